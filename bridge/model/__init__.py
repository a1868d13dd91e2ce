"""Plain data every layer shares: what the shop is and holds, as typed values. No I/O."""
