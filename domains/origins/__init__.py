"""Origins: each organization's traffic reaches its own app (Cloudflare custom origin servers).

Inside: `address` (what an origin may be), `services` (the workflows and the background step).
"""
