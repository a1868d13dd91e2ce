"""A CMS page of the shop (`content_management_system`), as the terms watch reads it: its multilingual
texts by language id. Plain data: read by bridge.shop.cms, planned by bridge.plan.terms.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CmsPage:
    id: int
    active: bool
    titles: Mapping[int, str] = field(default_factory=dict)  # meta_title by id_lang
    contents: Mapping[int, str] = field(default_factory=dict)  # content (HTML) by id_lang
    link_rewrites: Mapping[int, str] = field(default_factory=dict)  # the page's URL word by id_lang
