"""Pure planning: shop records and what the bridge remembers in, emails to queue out. No I/O."""
