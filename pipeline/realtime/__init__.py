"""The realtime engine: `qwen3-livetranslate-flash-realtime` over WebSocket.

A long source is cut at pauses into segments (`segments`); each segment is streamed in
its own session (`client`), many sessions at once (`engine`), and each answer is placed
back on the source's timeline by matching it to the speech map (`timing`).
"""
