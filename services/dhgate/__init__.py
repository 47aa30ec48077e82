"""Everything that talks to DHgate: URLs, parsing and fetching (its offline imitation is the top-level ``sandbox``)."""
