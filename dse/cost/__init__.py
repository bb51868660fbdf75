"""Area, power and energy: RTL components, SRAM buffers and DRAM, as pure functions of data."""
