"""The dub builder: each chunk's dubbed speech placed, stretched and levelled on the timeline."""

from pipeline.dub.pcm import SAMPLE_RATE_HZ, as_float_samples, samples_from_pcm16
from pipeline.dub.placement import DubRequest, Placement, place_dubs
from pipeline.dub.render import DubReport, render_dub

__all__ = [
    "SAMPLE_RATE_HZ",
    "DubReport",
    "DubRequest",
    "Placement",
    "as_float_samples",
    "place_dubs",
    "render_dub",
    "samples_from_pcm16",
]
