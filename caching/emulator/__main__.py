"""`python -m caching.emulator --port N`: the emulator without Django."""

from caching.emulator.server import main

main()
