"""The drawing of `convcorr pose`: an image with the person box and torso box given or found, the torso point, the
skeleton of each person in it (one colour per limb) and a legend strip below naming each limb and box in its colour.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# one colour per limb, in the order of the joint set's edges: 20 distinct colours (Trubetskoy's, without the boxes'
# white and black), so that every limb of the shipped models and of COCO's 19 has its own; repeats after 20 limbs
PALETTE = ((230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
           (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (170, 110, 40),
           (128, 0, 0), (0, 0, 128), (128, 128, 0), (220, 190, 255), (170, 255, 195), (255, 215, 180),
           (255, 250, 200), (128, 128, 128))
# the boxes drawn under the skeleton, colours no limb has, each edged in the other
BOX_COLOURS = {"person box": (255, 255, 255), "torso box": (0, 0, 0)}


def boxes_to_draw(person_box, torso_box, torso, torso_box_from: str | None, torso_from: str | None
                  ) -> list[tuple[str, np.ndarray, tuple[int, int, int]]]:
    """(legend label, box [4] or point [2], colour) for `draw`: the person box given, the torso box given or found
    and the torso point, each where there is one. A person-box model's crops are placed around the person box itself
    (`torso_box_from` "the person box"): that box is drawn and named once, as the person box."""
    out = []
    if person_box is not None:
        out.append(("person box (given)", np.asarray(person_box, np.float64), BOX_COLOURS["person box"]))
    if torso_box_from == "the person box" and person_box is not None:
        torso_box = None
    if torso_box is not None and np.all(np.isfinite(torso_box)):
        out.append((f"torso box ({torso_box_from})", np.asarray(torso_box, np.float64), BOX_COLOURS["torso box"]))
    if torso is not None and torso_from is not None:
        out.append((f"torso point ({torso_from})", np.asarray(torso, np.float64), BOX_COLOURS["torso box"]))
    return out


LEGEND_PX = 500  # images up to this long a side get the legend at its base size (10 px text); larger, in proportion


def _legend(width: int, labels: list[tuple[str, tuple, bool]], scale: float = 1.0) -> Image.Image:
    """The legend strip: each (text, colour, outlined) as a swatch and its text, wrapped at `width`; text, swatches
    and rows `scale` times their base size (10 px text in 14 px rows), so that the legend of a large image reads
    at the size the image is viewed at."""
    try:
        font = ImageFont.load_default(size=round(10 * scale))
    except (ImportError, OSError):  # a Pillow without FreeType: its fixed bitmap font
        font, scale = ImageFont.load_default(), 1.0

    def u(v: float) -> int:  # a base size in pixels, at this scale
        return round(v * scale)

    ld = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    rows: list[list[tuple[int, str, tuple, bool]]] = []
    row: list[tuple[int, str, tuple, bool]] = []
    x = u(4)
    for text, colour, outline in labels:
        tw = int(ld.textlength(text, font=font)) + u(20)
        if row and x + tw > width:
            rows.append(row)
            row, x = [], u(4)
        row.append((x, text, colour, outline))
        x += tw
    if row:
        rows.append(row)
    legend = Image.new("RGB", (width, u(14) * len(rows) + u(4)), "white")
    ld = ImageDraw.Draw(legend)
    for k, items in enumerate(rows):
        top = u(14) * k
        for x0, text, colour, outline in items:
            ld.rectangle([x0, top + u(4), x0 + u(8), top + u(12)], fill=colour, outline="black" if outline else None,
                         width=max(1, u(1)))
            ld.text((x0 + u(11), top + u(2)), text, fill="black", font=font)
    return legend


def draw(image: np.ndarray, points: np.ndarray, names: tuple[str, ...], skeleton: tuple[tuple[int, int], ...],
         boxes: Sequence[tuple[str, np.ndarray, tuple[int, int, int]]] = ()) -> Image.Image:
    """The image with the skeleton of each person (points [K, 2], or [P, K, 2] for P people of the image; one
    colour per limb, `PALETTE`), the joints as white dots, `boxes` (label, box [4] as an outline or point [2] as a
    cross, colour; `boxes_to_draw`: the person and torso boxes in `BOX_COLOURS`, white edged in black and black in
    white), and a legend strip below naming each limb and box in its colour (each label once), its text growing
    with images longer than `LEGEND_PX` a side."""
    h, w = image.shape[:2]
    width = max(2, round(max(h, w) / 150))
    canvas = Image.fromarray(image).convert("RGB")
    d = ImageDraw.Draw(canvas)
    for _, v, colour in boxes:
        edge = "black" if sum(colour) > 382 else "white"
        if len(v) == 4:  # inclusive pixels: a line `width` px wide on each outer edge (half a pixel out), as
            # whole pixels: PIL draws the outline inward from the pixels given, and truncated the half-pixel edges
            # to one pixel further out on the left and top than on the right and bottom
            half = width / 2
            edges = [int(np.floor(float(v[0]) - half)), int(np.floor(float(v[1]) - half)),
                     int(np.ceil(float(v[2]) + half)), int(np.ceil(float(v[3]) + half))]
            d.rectangle([edges[0] - 1, edges[1] - 1, edges[2] + 1, edges[3] + 1], outline=edge,
                        width=width + 2)  # 1 px either side
            d.rectangle(edges, outline=colour, width=width)
        else:  # a cross, edged as the boxes are
            r = 3 * width
            for fill, w_line, out in ((edge, width + 2, r + 1), (colour, width, r)):
                for line in ([v[0] - out, v[1], v[0] + out, v[1]], [v[0], v[1] - out, v[0], v[1] + out]):
                    d.line([float(c) for c in line], fill=fill, width=w_line)
    people = np.asarray(points).reshape(-1, len(names), 2)  # [P, K, 2]
    for pts in people:
        for e, (i, j) in enumerate(skeleton):
            d.line([tuple(map(float, pts[i])), tuple(map(float, pts[j]))], fill=PALETTE[e % len(PALETTE)],
                   width=width)
    r = width + 1
    for x, y in people.reshape(-1, 2):
        d.ellipse([x - r, y - r, x + r, y + r], fill="white", outline="black")
    labels = [(f"{names[i]}-{names[j]}", PALETTE[e % len(PALETTE)], False) for e, (i, j) in enumerate(skeleton)]
    labels += list(dict.fromkeys((label, colour, True) for label, _, colour in boxes))  # each label once
    legend = _legend(max(w, 160), labels, max(1.0, max(h, w) / LEGEND_PX))
    out = Image.new("RGB", (max(w, legend.width), h + legend.height), "white")
    out.paste(canvas, (0, 0))
    out.paste(legend, (0, h))
    return out
