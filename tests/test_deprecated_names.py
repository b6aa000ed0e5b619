"""Third-party spellings the project does not write: PIL's module-level filter, transpose and transform constants
(the bare `Image.` names, some deprecated, some gone in Pillow 10) are spelled through their enums,
`Image.Resampling.BILINEAR`, `Image.Transpose.FLIP_LEFT_RIGHT`, ..., in every committed .py and .md file (CHANGELOG.md,
the history, may name the old spelling)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# PIL.Image's constants that have an enum (`Image.Resampling`, `Image.Transpose`, `Image.Transform`, `Image.Dither`,
# `Image.Palette`, `Image.Quantize`); ANTIALIAS, LINEAR and CUBIC are Pillow 10's removed aliases of LANCZOS,
# BILINEAR and BICUBIC
PIL_CONSTANTS = ("NEAREST", "BOX", "BILINEAR", "HAMMING", "BICUBIC", "LANCZOS", "ANTIALIAS", "LINEAR", "CUBIC",
                 "FLIP_LEFT_RIGHT", "FLIP_TOP_BOTTOM", "ROTATE_90", "ROTATE_180", "ROTATE_270", "TRANSPOSE",
                 "TRANSVERSE", "AFFINE", "EXTENT", "PERSPECTIVE", "QUAD", "MESH", "FLOYDSTEINBERG", "WEB",
                 "ADAPTIVE", "MEDIANCUT", "MAXCOVERAGE", "FASTOCTREE", "LIBIMAGEQUANT")
_NAMES = "|".join(PIL_CONSTANTS)
# a constant read from the module ("Image" dot the name, also after "PIL.") or imported from it by name
# ("from PIL.Image import" a list holding it)
_PIL_CONSTANT = re.compile(rf"\bImage\.({_NAMES})\b|^\s*from\s+PIL\.Image\s+import\s+[^#\n]*\b({_NAMES})\b",
                           re.MULTILINE)
HISTORY = {"CHANGELOG.md"}  # what earlier releases did, in their words


def _project_files() -> list[Path]:
    """The .py and .md files git tracks or would track (untracked, not ignored), history left out."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", "*.py", "*.md"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout.splitlines()
    return [ROOT / rel for rel in sorted(set(listed)) if rel not in HISTORY and (ROOT / rel).is_file()]


def _pil_constant_uses(texts: dict[str, str]) -> list[str]:
    """"file:line: text" for every line of `texts` ({name: text}) that writes a PIL constant without its enum."""
    out = []
    for name, text in texts.items():
        for match in _PIL_CONSTANT.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            out.append(f"{name}:{line}: {text.splitlines()[line - 1].strip()}")
    return out


def test_no_file_writes_a_pil_constant_without_its_enum():
    """The bare BILINEAR, NEAREST and BICUBIC constants were in two bench scripts, a doc page and a
    test (their enum since: `Image.Resampling.*`); no constant is written without its enum again."""
    files = _project_files()
    assert any(p.name == "library.md" for p in files) and any(p.suffix == ".py" for p in files)
    uses = _pil_constant_uses({str(p.relative_to(ROOT)): p.read_text(errors="replace") for p in files})
    assert not uses, "PIL constants without their enum (Image.Resampling.*, Image.Transpose.*, ...):\n" + \
        "\n".join(uses)


def test_the_guard_finds_every_spelling_of_a_pil_constant():
    """The check itself: each spelling of a bare constant is found, the enum spellings and look-alikes are not."""
    bare = "Image" + "."  # not written whole here, so that this file passes its own check
    planted = {"a.py": f"img.resize((4, 4), {bare}BILINEAR)", "b.md": f"    im.resize(s, PIL.{bare}ANTIALIAS)",
               "c.py": "from PIL.Image import NEAREST, open", "d.py": f"im.transpose({bare}FLIP_LEFT_RIGHT)",
               "e.py": f"x = 1\ny = {bare}LANCZOS"}
    assert [u.split(":")[0] for u in _pil_constant_uses(planted)] == ["a.py", "b.md", "c.py", "d.py", "e.py"]
    assert _pil_constant_uses(planted)[-1] == f"e.py:2: y = {bare}LANCZOS"
    fine = {"f.py": f"im.resize(s, {bare}Resampling.BILINEAR)\nim.transpose({bare}Transpose.FLIP_LEFT_RIGHT)",
            "g.py": "cv2.INTER_LINEAR; Image.open(p); Image.BILINEARITY; MyImage.BILINEAR_X; from PIL import Image",
            "h.md": "a bilinear NEAREST neighbour (Image.Resampling.NEAREST)"}
    assert _pil_constant_uses(fine) == []
