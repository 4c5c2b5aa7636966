"""The provider's token formulas (ltb.tokens), against cases computed by hand.

The emulator bills with these and the planner estimates with them. Each expected number is a
literal, with the arithmetic beside it, following seed 000's reference script:
frames sampled at 2 fps, even, within [4, 128] and never above the file's own frames;
each frame resized to multiples of 32 under a pixel cap of
max(min(768*1024, 16384*1024*2 / frames), int(128*1024*1.05)), at least 128*1024;
tokens = ceil(frames / 2) x (h / 32) x (w / 32) + 2.
"""

from __future__ import annotations

import pytest

from ltb.errors import MediaError
from ltb.tokens import audio_tokens, video_geometry, video_tokens


@pytest.mark.parametrize(
    ("seconds", "tokens"),
    [
        (0.4, 13),  # shorter than 1 s counts as 1 s: ceil(12.5 x 1) = 13
        (1.0, 13),  # ceil(12.5) = 13
        (2.0, 25),  # 12.5 x 2 = 25 exactly
        (12.8125, 161),  # ceil(160.156) = 161
        (30.0, 375),  # 12.5 x 30 = 375 exactly
        (30.000000001, 375),  # float noise never adds a token
    ],
)
def test_audio_tokens(seconds: float, tokens: int) -> None:
    assert audio_tokens(seconds) == tokens


# (height, width, total_frames, fps) -> (sampled frames, resized h, resized w, tokens)
VIDEO_CASES = {
    # 720p, 30 s at 30 fps: 900 frames; 30 s x 2 = 60 frames
    # cap = min(786432, 16777216 x 2 / 60 = 559240.5); 720 -> round(22.5) = 22 -> 704, 1280
    # 704 x 1280 = 901120 > cap: beta = sqrt(921600 / 559240.5) = 1.2837
    # h = floor(720 / 1.2837 / 32) = 17 -> 544; w = floor(1280 / 1.2837 / 32) = 31 -> 992
    # ceil(60 / 2) x 17 x 31 + 2 = 30 x 527 + 2 = 15812
    "720p 30 s": ((720, 1280, 900, 30.0), (60, 544, 992, 15812)),
    # 59.94 fps, 3 s: 180 frames; 180 / 59.94 = 3.003 s, leftover <= 0.5 -> ceil(3 x 59.94) = 180
    # 180 / 59.94 x 2 = 6.006 -> 6 frames; cap 786432; 360 -> round(11.25) = 11 -> 352; 640
    # ceil(6 / 2) x 11 x 20 + 2 = 662
    "59.94 fps 360p": ((360, 640, 180, 60000 / 1001), (6, 352, 640, 662)),
    # 59.94 fps 1080p, 600 frames = 10.01 s: ceil(10 x 59.94) = 600 -> 600 / 59.94 x 2 = 20.02 -> 20
    # cap = min(786432, 1677721.6) = 786432; 1088 x 1920 > cap: beta = sqrt(2073600 / 786432) = 1.6238
    # h = floor(1080 / 1.6238 / 32) = 20 -> 640; w = floor(1920 / 1.6238 / 32) = 36 -> 1152
    # 10 x 20 x 36 + 2 = 7202
    "59.94 fps 1080p": ((1080, 1920, 600, 60000 / 1001), (20, 640, 1152, 7202)),
    # portrait 1080x1920, 20 s at 30 fps: 40 frames; cap = min(786432, 838860.8) = 786432
    # 1920 x 1088 > cap: beta 1.6238 -> h = 36 x 32 = 1152, w = 20 x 32 = 640
    # 20 x 36 x 20 + 2 = 14402
    "portrait 1080x1920": ((1920, 1080, 600, 30.0), (40, 1152, 640, 14402)),
    # 4K, 10 s at 30 fps: 20 frames; beta = sqrt(8294400 / 786432) = 3.2476
    # h = floor(2160 / 3.2476 / 32) = 20 -> 640; w = floor(3840 / 3.2476 / 32) = 36 -> 1152
    # 10 x 20 x 36 + 2 = 7202
    "4K 10 s": ((2160, 3840, 300, 30.0), (20, 640, 1152, 7202)),
    # tiny 64x48, 4 s at 25 fps: 8 frames; 48 -> round(1.5) = 2 -> 64; 64 -> 64; 4096 < 131072
    # grow: beta = sqrt(131072 / 3072) = 6.532; h = ceil(48 x 6.532 / 32) = 10 -> 320,
    # w = ceil(64 x 6.532 / 32) = 14 -> 448; 4 x 10 x 14 + 2 = 562
    "tiny 64x48": ((48, 64, 100, 25.0), (8, 320, 448, 562)),
    # 20 s 720p at 25 fps: 40 frames; cap 786432; 901120 > cap: beta = sqrt(921600 / 786432) = 1.0825
    # h = floor(720 / 1.0825 / 32) = 20 -> 640; w = floor(1280 / 1.0825 / 32) = 36 -> 1152
    # 20 x 20 x 36 + 2 = 14402
    "20 s clip": ((720, 1280, 500, 25.0), (40, 640, 1152, 14402)),
    # 70 s at 5 fps (350 frames): 140 wanted, capped at 128; cap = min(786432, 262144) = 262144
    # 90x160 -> 96 x 160 = 15360 < 131072: beta = sqrt(131072 / 14400) = 3.017
    # h = ceil(90 x 3.017 / 32) = 9 -> 288; w = ceil(160 x 3.017 / 32) = 16 -> 512
    # 64 x 9 x 16 + 2 = 9218
    "70 s, 128-frame cap": ((90, 160, 350, 5.0), (128, 288, 512, 9218)),
    # 70 s 720p at 30 fps: 128 frames; cap 262144; beta = sqrt(921600 / 262144) = 1.875
    # h = 720 / 1.875 = 384 -> 12 x 32; w = floor(682.7 / 32) = 21 -> 672
    # 64 x 12 x 21 + 2 = 16130 (long chunks all cost about this much)
    "70 s 720p": ((720, 1280, 2100, 30.0), (128, 384, 672, 16130)),
    # 2 s at 24 fps: 4 frames (the minimum); 640 x 1152 as above; 2 x 20 x 36 + 2 = 1442
    "2 s minimum frames": ((720, 1280, 48, 24.0), (4, 640, 1152, 1442)),
    # 3 frames at 1 fps: at most floor_even(min(128, 3)) = 2 frames, below the minimum of 4
    # 480x640 fits the cap as it is; ceil(2 / 2) x 15 x 20 + 2 = 302
    "fewer frames than the minimum": ((480, 640, 3, 1.0), (2, 480, 640, 302)),
    # 100 frames at 30 fps = 3.33 s: leftover 0.33 <= 0.5, so whole seconds: ceil(3 x 30) = 90
    # 90 / 30 x 2 = 6 frames; 3 x 20 x 36 + 2 = 2162
    "leftover under half a second": ((1080, 1920, 100, 30.0), (6, 640, 1152, 2162)),
    # 110 frames at 30 fps = 3.67 s: leftover 0.67 > 0.5, so ceil(3.667 x 30) = 110
    # 110 / 30 x 2 = 7.33 -> 7 frames (odd, as the script leaves it); ceil(7 / 2) = 4
    # 4 x 20 x 36 + 2 = 2882
    "leftover over half a second": ((1080, 1920, 110, 30.0), (7, 640, 1152, 2882)),
    # square 480x480, 10 s: 20 frames; 15 x 15 patches fit; 10 x 15 x 15 + 2 = 2252
    "square": ((480, 480, 300, 30.0), (20, 480, 480, 2252)),
    # exactly 200:1 is allowed: 32 x 6400 = 204800 fits; 2 s -> 4 frames; 2 x 1 x 200 + 2 = 402
    "200:1 strip": ((32, 6400, 60, 30.0), (4, 32, 6400, 402)),
}


@pytest.mark.parametrize(("clip", "expected"), VIDEO_CASES.values(), ids=VIDEO_CASES.keys())
def test_video_tokens_match_hand_computation(
    clip: tuple[int, int, int, float], expected: tuple[int, int, int, int]
) -> None:
    height, width, total_frames, fps = clip
    frames, resized_h, resized_w, tokens = expected
    geometry = video_geometry(height=height, width=width, total_frames=total_frames, fps=fps)
    assert (geometry.frames, geometry.height, geometry.width) == (frames, resized_h, resized_w)
    assert video_tokens(height=height, width=width, total_frames=total_frames, fps=fps) == tokens


@pytest.mark.parametrize(("height", "width"), [(20, 4040), (4040, 20), (1, 201)])
def test_an_aspect_ratio_over_200_is_refused(height: int, width: int) -> None:
    with pytest.raises(MediaError) as refused:
        video_tokens(height=height, width=width, total_frames=60, fps=30.0)
    assert refused.value.code == "aspect_ratio_out_of_range"
    assert "200" in refused.value.message
