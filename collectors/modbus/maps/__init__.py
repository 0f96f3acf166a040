"""Built-in Modbus register maps, one ``<name>.toml`` each (a package, so they ship in the wheel)."""
