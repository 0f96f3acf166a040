"""Built-in CTWing vendor code tables, one ``<vendor>.toml`` each (a package, so they ship in the wheel)."""
