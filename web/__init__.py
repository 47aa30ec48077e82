"""Request-layer plumbing shared by every blueprint: security headers, languages, assets, errors."""
