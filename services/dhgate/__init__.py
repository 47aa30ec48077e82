"""Everything that talks to DHgate or imitates it: URLs, parsing, fetching and the sandbox."""
