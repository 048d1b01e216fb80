#!/usr/bin/env python3
"""Generated camera captures of QR codes as the kiosk sees them: phones behind glass, worn paper.

The public sample folders are mostly clean prints; a citizen holds up a phone in dark mode behind the
kiosk's window, with the ceiling lights reflected in both, or a letter that spent a week folded in a
pocket. This makes such frames (640x480 BGR, with the text each code holds) deterministically from a
seed, so a tuning set and a disjoint held-out set can be measured side by side.

    .venv/bin/python tools/bench/qr_captures.py --seed 1 --count 12 --out /tmp/captures   # PNG + .txt
"""

from __future__ import annotations

import argparse
import string
import sys
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import qrcode

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

WIDTH, HEIGHT = 640, 480
TUNING_SEED = 1_000
HELD_OUT_SEED = 9_000_000  # far from the tuning seed: the two sets share no frame
_EC = {"L": qrcode.constants.ERROR_CORRECT_L, "M": qrcode.constants.ERROR_CORRECT_M,
       "Q": qrcode.constants.ERROR_CORRECT_Q}


@dataclass
class Capture:
    frame: np.ndarray  # 640x480 BGR uint8
    text: str  # what the code holds (exact)
    kind: str  # "phone" or "paper"
    effects: list[str] = field(default_factory=list)  # what was done to it, for reading failures


# ---- texts ------------------------------------------------------------------------------------------


def _token_minter(rng: np.random.Generator):
    """Real kiosk tokens signed with a throwaway key (never the simulator's or a town hall's)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from kioskd import tokens

    key = Ed25519PrivateKey.from_private_bytes(rng.bytes(32))

    def mint() -> str:
        reservation = f"R-{int(rng.integers(2024, 2031))}-{int(rng.integers(0, 10**int(rng.integers(4, 9)))):06d}"
        kiosk = str(rng.choice(["aalter-1", "aalter-2", "sim-1", "gent-centrum-3", "deinze-bib"]))
        expiry = 1_700_000_000 + int(rng.integers(0, 200_000_000))
        token_id = rng.bytes(int(rng.integers(8, 17))).hex()
        return tokens.mint(key, reservation, kiosk, expiry, token_id)

    return mint


def random_texts(rng: np.random.Generator, count: int) -> list[str]:
    """Mostly kiosk tokens (~150-250 chars), some short ids and URLs, as a kiosk meets them."""
    mint = _token_minter(rng)
    alnum = string.ascii_letters + string.digits
    out = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.6:
            out.append(mint())
        elif roll < 0.8:
            out.append(str(rng.choice(["R-", "KD-", "", "AB"])) + "".join(rng.choice(list(string.digits), 8)))
        else:
            slug = "".join(rng.choice(list(alnum), int(rng.integers(6, 40))))
            out.append(str(rng.choice(["https://www.aalter.be/afhalen?c=", "https://loket.gent.be/r/",
                                       "https://e-loket.example.org/reservatie/"])) + slug)
    return out


def qr_modules(text: str, ec: str = "M") -> np.ndarray:
    """The code's modules (True = dark) with a 4-module quiet zone."""
    code = qrcode.QRCode(error_correction=_EC[ec], box_size=1, border=4)
    code.add_data(text.encode("utf-8"))
    code.make(fit=True)
    return np.array(code.get_matrix(), dtype=bool)


# ---- geometry and optics ------------------------------------------------------------------------------


def _background(rng: np.random.Generator) -> np.ndarray:
    """What is behind the phone or letter: a dim kiosk interior, a coat, a hand; smooth and blotchy."""
    grey = rng.uniform(15, 130, size=(6, 8, 1))
    small = (grey * rng.uniform(0.8, 1.2, size=(6, 8, 3))).astype(np.float32)  # muted, like a real room
    bg = cv2.resize(small, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
    if rng.random() < 0.5:  # skin of the hand holding it
        centre = (int(rng.integers(100, 540)), int(rng.integers(300, 480)))
        skin = np.array([95, 130, 190], np.float32) * rng.uniform(0.5, 1.1)
        mask = np.zeros((HEIGHT, WIDTH), np.float32)
        cv2.ellipse(mask, centre, (int(rng.integers(80, 200)), int(rng.integers(60, 140))), float(rng.uniform(0, 180)),
                    0, 360, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), 8)[:, :, None]
        bg = bg * (1 - mask) + skin * mask
    return bg


def _quad(rng: np.random.Generator, w: float, h: float, tilt: float) -> np.ndarray:
    """Where a w x h rectangle lands in the frame: centred-ish, rotated, seen at an angle."""
    cx, cy = WIDTH / 2 + rng.uniform(-90, 90), HEIGHT / 2 + rng.uniform(-60, 60)
    angle = np.deg2rad(rng.uniform(-25, 25) if rng.random() < 0.8 else rng.uniform(-180, 180))
    corners = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]], np.float32)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)
    corners = corners @ rot.T
    # perspective: one side further away than the other
    kx, ky = rng.uniform(-tilt, tilt), rng.uniform(-tilt, tilt)
    scale = 1 + kx * corners[:, 0] / max(w, 1) + ky * corners[:, 1] / max(h, 1)
    corners = corners * scale[:, None]
    return (corners + [cx, cy]).astype(np.float32)


def _warp_into(scene: np.ndarray, picture: np.ndarray, quad: np.ndarray, mask_value: np.ndarray | None = None,
               interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    h, w = picture.shape[:2]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    matrix = cv2.getPerspectiveTransform(src, quad)
    warped = cv2.warpPerspective(picture, matrix, (WIDTH, HEIGHT), flags=interpolation)
    mask = cv2.warpPerspective(np.ones((h, w), np.float32) if mask_value is None else mask_value, matrix,
                               (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR)[:, :, None]
    return scene * (1 - mask) + warped * mask


def _glare(rng: np.random.Generator, frame: np.ndarray, strength: float) -> None:
    """Ceiling lights and the sun on the glass: bright soft blobs and a streak, clipped at white."""
    for _ in range(int(rng.integers(1, 4))):
        layer = np.zeros((HEIGHT, WIDTH), np.float32)
        centre = (int(rng.integers(0, WIDTH)), int(rng.integers(0, HEIGHT)))
        axes = (int(rng.integers(10, 90)), int(rng.integers(6, 50)))
        cv2.ellipse(layer, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
        layer = cv2.GaussianBlur(layer, (0, 0), float(rng.uniform(4, 20)))
        frame += layer[:, :, None] * strength * rng.uniform(120, 320)
    if rng.random() < 0.5:  # a long reflected window frame or strip light
        layer = np.zeros((HEIGHT, WIDTH), np.float32)
        x = int(rng.integers(0, WIDTH))
        cv2.line(layer, (x, 0), (x + int(rng.integers(-200, 200)), HEIGHT), 1.0, int(rng.integers(8, 40)))
        frame += cv2.GaussianBlur(layer, (0, 0), 10)[:, :, None] * rng.uniform(30, 110)


def _reflection(rng: np.random.Generator, frame: np.ndarray) -> None:
    """The citizen and the room reflected in the kiosk glass and the phone's screen: a faint ghost image."""
    ghost = cv2.GaussianBlur(_background(rng), (0, 0), 6)
    frame += ghost * rng.uniform(0.1, 0.35)


def _motion_kernel(rng: np.random.Generator, length: int) -> np.ndarray:
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0
    rot = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), float(rng.uniform(0, 180)), 1.0)
    kernel = cv2.warpAffine(kernel, rot, (length, length))
    return kernel / max(kernel.sum(), 1e-6)


def _camera(rng: np.random.Generator, frame: np.ndarray, effects: list[str], light: float) -> np.ndarray:
    """The kiosk's cheap fixed-focus camera: blur, exposure, colour cast, noise, vignetting, JPEG."""
    if rng.random() < 0.7:
        sigma = float(rng.uniform(0.4, 1.6))
        frame = cv2.GaussianBlur(frame, (0, 0), sigma)
        effects.append(f"blur {sigma:.1f}")
    if rng.random() < 0.3:
        length = int(rng.integers(3, 9))
        frame = cv2.filter2D(frame, -1, _motion_kernel(rng, length))
        effects.append(f"motion {length}px")
    cast = rng.uniform(0.75, 1.2, size=3).astype(np.float32)  # white balance off: LED, sodium, daylight
    frame = frame * cast * light
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    vignette = 1 - rng.uniform(0.1, 0.45) * (((xx - WIDTH / 2) / WIDTH) ** 2 + ((yy - HEIGHT / 2) / HEIGHT) ** 2) * 2
    frame = frame * vignette[:, :, None]
    noise = float(rng.uniform(2, 7) / max(light, 0.3))  # gain goes up in the dark, and so does noise
    frame = frame + rng.normal(0, noise, frame.shape).astype(np.float32)
    frame += rng.normal(0, noise / 2, (HEIGHT // 2, WIDTH // 2, 1)).astype(np.float32).repeat(2, 0).repeat(2, 1)
    effects.append(f"noise {noise:.1f}")
    frame = np.clip(frame, 0, 255).astype(np.uint8)
    quality = int(rng.integers(25, 85))
    ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    effects.append(f"jpeg q{quality}")
    return cv2.imdecode(jpeg, cv2.IMREAD_COLOR)


# ---- the two kinds of capture ---------------------------------------------------------------------------


def phone_capture(rng: np.random.Generator, text: str) -> Capture:
    """A phone screen showing the code, held up behind the kiosk's glass."""
    effects: list[str] = []
    modules = qr_modules(text, "M")
    n = modules.shape[0]
    # the phone's own pixels: 2-5 device pixels per module, each drawn as 3x3 samples with its seams
    px_per_module = int(rng.integers(2, 6))
    code_px = n * px_per_module
    screen_w = int(code_px * rng.uniform(1.05, 1.35))
    screen_h = int(screen_w * rng.uniform(1.9, 2.2))
    dark_mode = rng.random() < 0.35
    paper, ink = (rng.uniform(20, 45), rng.uniform(200, 245)) if dark_mode else (rng.uniform(225, 255),
                                                                                 rng.uniform(0, 40))
    if dark_mode:
        effects.append("dark mode")
    screen = np.full((screen_h, screen_w), paper, np.float32)
    top = int(screen_h * rng.uniform(0.25, 0.45))
    left = (screen_w - code_px) // 2
    code = np.where(modules, ink, paper).astype(np.float32)
    if dark_mode and rng.random() < 0.5:  # some apps keep a white card around the code in dark mode
        code = np.where(modules, rng.uniform(0, 40), rng.uniform(200, 250)).astype(np.float32)
        effects[-1] = "dark mode, white card"
    screen[top:top + code_px, left:left + code_px] = code.repeat(px_per_module, 0).repeat(px_per_module, 1)
    for y in (int(screen_h * 0.08), int(screen_h * 0.15), top + code_px + int(screen_h * 0.06)):  # app text bars
        if y + 8 < screen_h:
            screen[y:y + int(rng.integers(4, 10)), screen_w // 6: screen_w * 5 // 6] = ink * 0.8 + paper * 0.2
    # the pixel grid: each device pixel lit in its centre, dark seams between (the source of moiré)
    sub = 3
    screen = screen.repeat(sub, 0).repeat(sub, 1)
    grid = np.ones((sub, sub), np.float32)
    grid[-1, :] = grid[:, -1] = float(rng.uniform(0.35, 0.7))
    screen = screen * np.tile(grid, (screen_h, screen_w))
    brightness = float(rng.uniform(0.6, 1.25))
    screen_bgr = np.repeat(screen[:, :, None], 3, axis=2) * brightness
    screen_bgr = screen_bgr * np.array([1.0, 0.98, 0.9 if rng.random() < 0.5 else 1.0], np.float32)  # night shift
    # the bezel: a dark frame around the screen
    bezel = int(screen_bgr.shape[1] * rng.uniform(0.03, 0.08))
    phone = np.full((screen_bgr.shape[0] + 2 * bezel, screen_bgr.shape[1] + 2 * bezel, 3),
                    rng.uniform(5, 40), np.float32)
    phone[bezel:-bezel, bezel:-bezel] = screen_bgr
    # how big the code is in the camera frame: from arm's length to pressed against the glass
    code_in_frame = float(rng.uniform(max(1.6 * n, 110), 380))
    scale = code_in_frame / (code_px * sub)
    ph, pw = phone.shape[:2]
    quad = _quad(rng, pw * scale, ph * scale, tilt=float(rng.uniform(0.05, 0.45)))
    # shift so the code, not the phone's centre, is roughly where the camera looks
    code_centre_y = (bezel + (top + code_px / 2) * sub) * scale - ph * scale / 2
    quad[:, 1] -= code_centre_y * rng.uniform(0.6, 1.0)
    effects.append(f"code {code_in_frame:.0f}px, {n} modules")
    scene = _background(rng)
    # nearest-neighbour sampling of the fine pixel grid aliases into moiré, as a real sensor does
    interpolation = cv2.INTER_NEAREST if rng.random() < 0.5 else cv2.INTER_LINEAR
    frame = _warp_into(scene, phone, quad, interpolation=interpolation)
    if rng.random() < 0.8:
        _glare(rng, frame, float(rng.uniform(0.4, 1.2)))
        effects.append("glare")
    if rng.random() < 0.6:
        _reflection(rng, frame)
        effects.append("reflection")
    if rng.random() < 0.3:  # the glass is dirty and lowers contrast everywhere
        haze = float(rng.uniform(20, 70))
        frame = frame * (1 - haze / 255) + haze
        effects.append(f"haze {haze:.0f}")
    return Capture(_camera(rng, frame, effects, light=float(rng.uniform(0.55, 1.1))), text, "phone", effects)


def paper_capture(rng: np.random.Generator, text: str) -> Capture:
    """A printed letter: toner dots, ink bleed, a fold across it, curled, in a dim corner."""
    effects: list[str] = []
    ec = str(rng.choice(["M", "Q"]))
    modules = qr_modules(text, ec)
    n = modules.shape[0]
    dpm = 8  # printer dots per module, before the camera sees it
    ink_map = modules.repeat(dpm, 0).repeat(dpm, 1).astype(np.float32)
    if rng.random() < 0.6:  # ink bleed: modules swell into their neighbours (or starve, on a dry printer)
        k = int(rng.integers(1, 3))
        ink_map = (cv2.dilate if rng.random() < 0.7 else cv2.erode)(ink_map, np.ones((2 * k + 1, 2 * k + 1),
                                                                                     np.uint8))
        effects.append("ink bleed")
    if rng.random() < 0.5:  # laser/inkjet dot pattern: toner missing here and there inside dark areas
        dots = rng.random(ink_map.shape) < rng.uniform(0.05, 0.25)
        ink_map = np.where(dots, ink_map * 0.3, ink_map)
        effects.append("print dots")
    ink_map = cv2.GaussianBlur(ink_map, (0, 0), 1.2)
    margin = int(n * dpm * rng.uniform(0.15, 0.6))
    sheet_h, sheet_w = n * dpm + 2 * margin, n * dpm + 2 * margin
    white, black = float(rng.uniform(200, 250)), float(rng.uniform(10, 70))
    sheet = np.full((sheet_h, sheet_w), white, np.float32)
    sheet[margin:margin + n * dpm, margin:margin + n * dpm] = white - (white - black) * ink_map
    # fibres and stains
    sheet += cv2.GaussianBlur(rng.normal(0, 6, sheet.shape).astype(np.float32), (0, 0), 2)
    if rng.random() < 0.7:  # a crease: one side of the fold turned away from the light
        effects.append("crease")
        for _ in range(int(rng.integers(1, 3))):
            yy, xx = np.mgrid[0:sheet_h, 0:sheet_w].astype(np.float32)
            angle = rng.uniform(0, np.pi)
            d = (xx - sheet_w * rng.uniform(0.3, 0.7)) * np.cos(angle) + (yy - sheet_h * rng.uniform(0.3, 0.7)) * \
                np.sin(angle)
            shade = np.where(d > 0, rng.uniform(0.55, 0.9), 1.0).astype(np.float32)
            line = np.exp(-(d ** 2) / (2 * rng.uniform(1.5, 5) ** 2)).astype(np.float32)
            sheet = sheet * shade - line * rng.uniform(20, 60) + line * rng.uniform(0, 40) * (d > 0)
    sheet_bgr = np.repeat(sheet[:, :, None], 3, axis=2) * np.array([0.92, 0.97, 1.0], np.float32)  # warm paper
    if rng.random() < 0.6:  # curl: the sheet bends like a cylinder away from the camera
        effects.append("curl")
        amount = float(rng.uniform(0.04, 0.14))
        yy, xx = np.mgrid[0:sheet_h, 0:sheet_w].astype(np.float32)
        u = (xx - sheet_w / 2) / (sheet_w / 2)
        map_x = (sheet_w / 2) + np.sin(u * np.pi / 2 * (1 + amount)) / np.sin(np.pi / 2 * (1 + amount)) * \
            (sheet_w / 2)
        map_y = yy + amount * sheet_h * (u ** 2) * (yy - sheet_h / 2) / sheet_h
        sheet_bgr = cv2.remap(sheet_bgr, map_x.astype(np.float32), map_y.astype(np.float32), cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        sheet_bgr *= (1 - 0.35 * np.abs(u) ** 2)[:, :, None]
    code_in_frame = float(rng.uniform(max(1.8 * n, 120), 400))
    scale = code_in_frame / (n * dpm)
    quad = _quad(rng, sheet_w * scale, sheet_h * scale, tilt=float(rng.uniform(0.05, 0.5)))
    effects.append(f"code {code_in_frame:.0f}px, {n} modules, EC {ec}")
    scene = _background(rng)
    frame = _warp_into(scene, sheet_bgr, quad, interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:  # the citizen's own shadow over part of the sheet
        layer = np.ones((HEIGHT, WIDTH), np.float32)
        cv2.circle(layer, (int(rng.integers(0, WIDTH)), int(rng.integers(0, HEIGHT))), int(rng.integers(100, 300)),
                   float(rng.uniform(0.35, 0.7)), -1)
        frame *= cv2.GaussianBlur(layer, (0, 0), 25)[:, :, None]
        effects.append("shadow")
    if rng.random() < 0.4:
        _glare(rng, frame, float(rng.uniform(0.2, 0.6)))
        effects.append("glare")
    light = float(rng.uniform(0.35, 1.0))
    if light < 0.55:
        effects.append("low light")
    return Capture(_camera(rng, frame, effects, light=light), text, "paper", effects)


def generate(seed: int, count: int) -> list[Capture]:
    """``count`` captures from ``seed``: about two thirds phones, one third paper. Same seed, same frames."""
    rng = np.random.default_rng(seed)
    texts = random_texts(rng, count)
    captures = []
    for i, text in enumerate(texts):
        make = phone_capture if i % 3 != 2 else paper_capture
        captures.append(make(np.random.default_rng([seed, i]), text))
    return captures


def tuning_set(count: int) -> list[Capture]:
    return generate(TUNING_SEED, count)


def held_out_set(count: int) -> list[Capture]:
    return generate(HELD_OUT_SEED, count)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=TUNING_SEED)
    parser.add_argument("--count", type=int, default=12)
    parser.add_argument("--out", type=Path, required=True, help="folder for NAME.png + NAME.txt pairs")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for i, capture in enumerate(generate(args.seed, args.count)):
        name = f"{capture.kind}-{i:03d}"
        cv2.imwrite(str(args.out / f"{name}.png"), capture.frame)
        (args.out / f"{name}.txt").write_text(capture.text, encoding="utf-8")
        print(f"{name}: {', '.join(capture.effects)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
