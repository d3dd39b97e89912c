"""Pure domain: instruments, events, commands, the order book, order lifecycle, time."""
