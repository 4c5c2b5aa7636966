"""The realtime engine's WebSocket protocol (qwen3-livetranslate-flash-realtime), served by the
emulator at /api-ws/v1/realtime next to the file API.

A session: the client configures it (session.update), streams 16 kHz PCM16 audio and
optionally JPEG frames, and ends it (session.finish). The emulator finds the utterances
with the project's own speech detector and answers each one with a response: pseudo-
translated text, a synthetic dub when asked, a source transcript when asked, and the
response's usage, billed by the provider's formulas and written to the ledger.
"""
