"""Writes PNGs the ways PIL users write them, and PIL's own decode of each, for test/decode/png-native.test.ts.

    /usr/bin/python3 png_pil_corpus.py OUT_DIR

For every case NAME: OUT_DIR/NAME.png, and OUT_DIR/NAME.raw with PIL's pixels in the layout sharp returns
(L as 1 channel; LA as RGBA; P as RGB, or RGBA with transparency), the independent pixel oracle. Prints a JSON
list of {name, mode, width, height, channels, fast}: `fast` is whether the native decoder is expected to take
the file (8-bit, non-interlaced, no ICC profile, no tRNS in L or RGB); the others must go to sharp.
"""
import io
import json
import os
import sys
import zlib

import numpy as np
from PIL import Image, PngImagePlugin

out_dir = sys.argv[1]
rng = np.random.default_rng(20261205)
cases = []


def noisy(h, w, c):
    """Gradients plus noise: compresses like a photo, and every filter type gets chosen somewhere."""
    y, x = np.mgrid[0:h, 0:w]
    base = (x * 3 + y * 2)[..., None] + np.arange(c)[None, None, :] * 40
    return ((base + rng.integers(0, 40, (h, w, c))) & 0xFF).astype(np.uint8)


def oracle(im):
    if im.mode == 'P':
        return im.convert('RGBA' if 'transparency' in im.info else 'RGB')
    if im.mode == 'LA':
        return im.convert('RGBA')
    return im


def add(name, im, fast, **save):
    path = os.path.join(out_dir, name + '.png')
    im.save(path, **save)
    back = Image.open(path)
    back.load()
    o = oracle(back)
    arr = np.asarray(o)
    arr.tofile(os.path.join(out_dir, name + '.raw'))
    if fast == 'if-8-bit':
        # PIL stores a palette of up to 16 colours with 1, 2 or 4 bits per index: those go to sharp.
        with open(path, 'rb') as f:
            fast = f.read(25)[24] == 8
    cases.append({'name': name, 'mode': back.mode, 'width': back.width, 'height': back.height,
                  'channels': 1 if arr.ndim == 2 else arr.shape[2], 'fast': fast})


sizes = [(1, 1), (5, 7), (48, 64), (3, 255), (200, 131)]
for h, w in sizes:
    tag = '%dx%d' % (w, h)
    rgba = noisy(h, w, 4)
    add('rgb-' + tag, Image.fromarray(rgba[..., :3], 'RGB'), True)
    add('rgba-' + tag, Image.fromarray(rgba, 'RGBA'), True)
    add('l-' + tag, Image.fromarray(rgba[..., 0], 'L'), True)
    add('la-' + tag, Image.fromarray(rgba[..., :2], 'LA'), True)
    pal = Image.fromarray(rgba[..., :3], 'RGB').quantize(256)
    add('p-' + tag, pal, 'if-8-bit')
    add('p-trns-' + tag, pal, 'if-8-bit', transparency=0)
    alphas = bytes(int(v) for v in rng.integers(0, 256, min(len(pal.getpalette()) // 3, 200)))
    add('p-alphas-' + tag, pal, 'if-8-bit', transparency=alphas)

img = Image.fromarray(noisy(131, 200, 3), 'RGB')
gray = Image.fromarray(noisy(131, 200, 1)[..., 0], 'L')
for level in range(10):
    add('rgb-level%d' % level, img, True, compress_level=level)
    add('l-level%d' % level, gray, True, compress_level=level)
add('rgb-optimize', img, True, optimize=True)
add('rgba-optimize', Image.fromarray(noisy(131, 200, 4), 'RGBA'), True, optimize=True)
add('p-optimize', img.quantize(200), True, optimize=True)
add('p-16colours', img.quantize(16), False)
add('p-2colours', img.quantize(2), False)
add('bilevel', gray.point(lambda v: 255 if v > 128 else 0).convert('1'), False)
add('l-16bit', Image.fromarray((noisy(40, 50, 1)[..., 0].astype(np.uint16) * 257), 'I;16'), False)
add('l-trns', gray, False, transparency=7)
add('rgb-trns', img, False, transparency=(1, 2, 3))
add('rgb-dpi', img, True, dpi=(300, 300))

info = PngImagePlugin.PngInfo()
info.add_text('Software', 'nanscan test')
info.add_text('Comment', 'compressed ' * 40, zip=True)
info.add_itxt('Title', 'ünïcode', lang='de', tkey='Titel')
info.add(b'gAMA', (45455).to_bytes(4, 'big'))
info.add(b'sRGB', b'\x00')
info.add(b'cHRM', b''.join(v.to_bytes(4, 'big') for v in (31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000)))
info.add(b'tIME', bytes([7, 234, 12, 5, 8, 30, 0]))
info.add(b'prVt', b'private ancillary data')
info.add(b'tEXt', b'After\x00the image data', after_idat=True)
add('rgb-ancillary', img, True, pnginfo=info)

bad = PngImagePlugin.PngInfo()
bad.add(b'gAMA', (0).to_bytes(4, 'big'))  # gamma 0: libpng warns and ignores it
bad.add(b'tIME', bytes([7, 234, 13, 40, 25, 61, 61]))  # month 13: libpng warns
bad.add(b'tEXt', b'\x00no keyword')  # empty keyword: libpng warns
add('rgb-bad-ancillary', img, True, pnginfo=bad)

# An ICC profile makes sharp convert the pixels: such files go to sharp. A small but well-formed sRGB-ish
# profile is not at hand without ImageCms, so any bytes do: libpng and sharp decide what to do with them.
try:
    from PIL import ImageCms
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile('sRGB')).tobytes()
except Exception:  # noqa: BLE001 - no littlecms: a made-up profile still gives an iCCP chunk
    icc = b'\x00' * 128
add('rgb-icc', img, False, icc_profile=icc)

print(json.dumps(cases))
