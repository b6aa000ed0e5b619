"""Named tables users extend: `Registry` (name -> entry) and `Names` (a live, read-only view of its names).

    MATCHERS = Registry("matcher")
    MATCHERS.register("cos", cos_entry)
    MATCHERS["cos"]                  # the entry; an unknown name raises InputError listing the known ones
    SCORERS = MATCHERS.names         # a tuple-like view that sees names registered later (argparse choices, `in`)

Every name table of the project is one: backbones (`backbones.registry`: `spec`, `register`), matchers
(`correspondence.matching.MATCHERS`) and the point-transfer methods, BP flow and each matcher
(`correspondence.point_config.TRANSFER_METHODS`, its matcher entries read from MATCHERS on each lookup), pose
datasets (`data.pose_sets.DATASETS`) and the crop geometry of those cropped about torso boxes
(`core.crop_geometry.CROPS`), skeletons (`data.skeletons.SKELETONS`), the readers of each annotation format
(`data.formats.READERS`), downloadable datasets (`data.fetch.DOWNLOADS`), TFDS builders (`data.tfds_builders.BUILDERS`)
and the experiments (`convcorr_eval.registry.EXPERIMENTS`); tests/test_layout.py checks that no module keeps a name
table of its own.
"""

from __future__ import annotations

from typing import Callable, Generic, Iterator, Mapping, Sequence, TypeVar

from convcorr_jax.core.errors import InputError, unknown_name

T = TypeVar("T")


class Names(Sequence[str]):
    """A read-only tuple-like view of names computed on each use, so names registered later are seen.

    Args:
      names: a function returning the names, in order.
    """

    def __init__(self, names: Callable[[], tuple[str, ...]]):
        self._names = names

    def __getitem__(self, i):
        """The name(s) at index or slice `i`, as a tuple does."""
        return self._names()[i]

    def __len__(self) -> int:
        """How many names there are now."""
        return len(self._names())

    def __iter__(self) -> Iterator[str]:
        """The names in order."""
        return iter(self._names())

    def __contains__(self, name: object) -> bool:
        """Whether `name` is one of the names now."""
        return name in self._names()

    def __add__(self, other) -> tuple[str, ...]:
        """The names then `other`'s, as a tuple."""
        return self._names() + tuple(other)

    def __radd__(self, other) -> tuple[str, ...]:
        """`other`'s names then these, as a tuple."""
        return tuple(other) + self._names()

    def __eq__(self, other) -> bool:
        """Equal to a sequence holding the same names in the same order."""
        return isinstance(other, Sequence) and tuple(self) == tuple(other)

    def __hash__(self) -> int:
        """The hash of the names now (a view changes when a name is registered)."""
        return hash(self._names())

    def __repr__(self) -> str:
        """The names as a tuple."""
        return repr(self._names())


class Registry(Mapping[str, T], Generic[T]):
    """A name -> entry table: entries in registration order, unknown names refused with the known ones listed.

    Args:
      kind: what an entry is, for error messages ("backbone", "matcher").
      entries: the first entries, name -> entry, in order (each registered as by `register`).
      field: what the errors call a name ("name"; an experiment's "id").

    Examples:
      >>> colours = Registry("colour", {"red": (255, 0, 0)})
      >>> colours.register("green", (0, 255, 0))
      (0, 255, 0)
      >>> colours["blue"]
      Traceback (most recent call last):
      ...
      convcorr_jax.core.errors.InputError: colour: field 'name': expected one of ['red', 'green'], got blue
    """

    def __init__(self, kind: str, entries: Mapping[str, T] | None = None, field: str = "name"):
        self.kind = kind
        self.field = field
        self._items: dict[str, T] = {}
        self.names = Names(lambda: tuple(self._current()))
        for name, entry in (entries or {}).items():
            self.register(name, entry)

    def register(self, name: str, entry: T, replace: bool = False) -> T:
        """Add `entry` under `name`.

        Args:
          name: a non-empty string.
          entry: what the table holds under it.
          replace: allow replacing an entry of the same name (else InputError).

        Returns:
          `entry`.
        """
        if not isinstance(name, str) or not name:
            raise InputError(self.kind, self.field, "a non-empty string", name)
        if name in self._items and not replace:
            raise InputError(self.kind, self.field, f"a name not yet registered (or replace=True); known: "
                             f"{', '.join(self._items)}", name)
        self._items[name] = entry
        return entry

    def unregister(self, name: str) -> None:
        """Remove the entry under `name` (nothing when absent)."""
        self._items.pop(name, None)

    def _current(self) -> Mapping[str, T]:
        """The entries as they are now: the registered ones (a table that also derives entries from another, as
        `correspondence.point_config.TRANSFER_METHODS` does, overrides this alone)."""
        return self._items

    def __getitem__(self, name: str) -> T:
        """The entry under `name`; InputError naming the known names for any other."""
        table = self._current()
        try:
            return table[name]
        except (KeyError, TypeError):
            raise unknown_name(self.kind, self.field, name, list(table)) from None

    def __contains__(self, name: object) -> bool:
        """Whether `name` is an entry now."""
        return name in self._current()

    def __iter__(self) -> Iterator[str]:
        """The names in registration order."""
        return iter(self._current())

    def __len__(self) -> int:
        """How many entries there are."""
        return len(self._current())
