"""`python -m bedrock.emulator --port N`: the emulator without Django."""

from bedrock.emulator.server import main

main()
