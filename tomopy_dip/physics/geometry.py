"""Acquisition geometry in TomoPy's terms, translated to ASTRA.

A :class:`Geometry` describes one slice: the projection angles, the detector, the centre of
rotation and the output grid. It follows the conventions of ``tomopy.recon(...,
algorithm="gridrec")``:

* angles ``theta`` in radians, used as given (no flip, no offset);
* detector pixel ``d`` sits at signed distance ``t = d - center`` from the rotation axis
  (the convention of gridrec and of ``tomopy.find_center``);
* the output grid has ``num_gridx`` rows and ``num_gridy`` columns of unit pixels (one
  detector pixel wide); pixel ``(i, j)`` is centred at ``x = j - ceil(num_gridy / 2)``,
  ``y = num_gridx // 2 - 1 - i`` and a ray at angle ``theta`` meets the detector at ``t = x
  cos(theta) + y sin(theta)``. The rotation axis thus passes through the centre of pixel
  ``(num_gridx // 2 - 1, ceil(num_gridy / 2))``, exactly where gridrec puts it (measured
  against TomoPy 1.15.2 to 0.04 px).

For fan beam (``beam="fanflat"``) the distances ``source_origin`` and ``origin_detector`` and
the ``detector_spacing`` are in units of reconstruction pixels; ``center`` is then the detector
position (in pixels, same convention) hit by the central ray through the rotation axis.

Cone beam (``beam="cone"``) is the fan beam of every row at once: the same distances and
``center``, plus the pitch of the detector rows ``detector_row_spacing``. Its rows cannot be
reconstructed one by one: a cone :class:`Geometry` describes the whole scan, its operator maps a
volume of as many slices (unit voxels, slice ``k`` at height ``k - (nslices - 1) / 2`` above the
source's plane) as the data have detector rows (row ``r`` at the same height, magnified), by
ASTRA's 3-D CUDA projectors (:meth:`Geometry.astra_cone_geoms`).

A cone beam that is not a circle about a fixed axis (a tilted or shifted detector, a wobbling
source, a helix) is given by ``vectors``: one row ``(sx, sy, sz, dx, dy, dz, ux, uy, uz, vx, vy,
vz)`` per view, ASTRA's ``cone_vec`` convention - the source, the detector's centre, and the
vectors from detector pixel ``(0, 0)`` to ``(0, 1)`` (next column) and to ``(1, 0)`` (next row) -
in voxel units, in the frame of the circular geometry: ``x`` along the image's columns, ``y``
towards its row 0, ``z`` along its slices, the origin at the centre of the rotation-axis pixel
:meth:`Geometry.axis_pixel` and at the middle slice. The vectors of a circular geometry are those
of :meth:`Geometry.astra_cone_geoms`, so ``vectors=Geometry(...).astra_cone_geoms(n)[1]["Vectors"]``
describes the same scan.

The beams, their projectors, the default centre and the checks of single numbers are in
:mod:`tomopy_dip.physics.conventions`, the rules read from cone-beam vectors in
:mod:`tomopy_dip.physics.vectors`; their public names are importable from here too.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tomopy_dip.physics.conventions import (BEAMS, DEFAULT_PROJECTOR, DIVERGENT, FAN_KEYWORDS, PROJECTORS,
                                             check_center, check_grid_size, check_positive, default_center)
from tomopy_dip.physics.vectors import check_vectors, in_plane_vectors, source_detector_distance
from tomopy_dip.physics.vectors import ray_cosines as _ray_cosines

__all__ = ["Geometry", "BEAMS", "FAN_KEYWORDS", "DEFAULT_PROJECTOR", "PROJECTORS", "DIVERGENT", "default_center",
           "check_center", "check_vectors"]


@dataclass(frozen=True, eq=False)
class Geometry:
    """Geometry of one slice.

    Parameters
    ----------
    theta : array_like
        Projection angles in radians, shape ``(nproj,)``.
    ndet : int
        Number of detector pixels.
    center : float, optional
        Rotation-axis position on the detector in pixels, gridrec convention (``t = d -
        center``). Default: ``ndet / 2`` for parallel beam (TomoPy's default) and ``(ndet -
        1) / 2`` (the detector's middle) for fan beam.
    num_gridx, num_gridy : int, optional
        Output grid rows and columns; default ``ndet``.
    beam : {"parallel", "fanflat", "cone"}
        Beam type.
    source_origin, origin_detector, detector_spacing : float, optional
        Fan- and cone-beam distances and detector pixel pitch, in reconstruction-pixel units.
        Required for ``beam="fanflat"`` and ``"cone"``; ``detector_spacing`` defaults to 1.
    detector_row_spacing : float, optional
        Cone beam: pitch of the detector rows in reconstruction-pixel units (default
        ``detector_spacing``).
    vectors : array_like, optional
        Cone beam: the whole geometry, one row ``(source, detector centre, u, v)`` of 12 numbers
        per view in voxel units (see the module's notes), instead of ``source_origin``,
        ``origin_detector``, ``detector_spacing``, ``detector_row_spacing`` and ``center``;
        ``theta`` then only numbers (and labels) the views.
    projector : str, optional
        ASTRA CPU projector type (``"line"``, ``"linear"``, ``"strip"`` for parallel beam,
        ``"line_fanflat"`` for fan beam; ASTRA 2.5's ``strip_fanflat`` refuses the shifted
        ``fanflat_vec`` geometries that carry the centre; ``"cuda3d"`` for cone beam).

    Examples
    --------
    >>> import numpy as np
    >>> g = Geometry(np.linspace(0, np.pi, 90, endpoint=False), ndet=64, center=31.5)
    >>> g.shape_sino, g.shape_image
    ((90, 64), (64, 64))
    """

    theta: np.ndarray
    ndet: int
    center: float | None = None
    num_gridx: int | None = None
    num_gridy: int | None = None
    beam: str = "parallel"
    source_origin: float | None = None
    origin_detector: float | None = None
    detector_spacing: float | None = None
    projector: str | None = None
    detector_row_spacing: float | None = None
    vectors: np.ndarray | None = field(default=None, repr=False)
    key: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        theta = np.array(self.theta, dtype=np.float64).reshape(-1)
        if theta.size == 0:
            raise ValueError("theta must contain at least one angle")
        if not np.all(np.isfinite(theta)):
            raise ValueError("theta must contain only finite values (radians)")
        theta.setflags(write=False)
        ndet = check_grid_size("ndet", self.ndet)
        if self.beam not in BEAMS:
            raise ValueError(f"beam must be one of {BEAMS}, got {self.beam!r}")
        vectors = None if self.vectors is None else self._checked_vectors(theta.size, ndet)
        fan = self.beam in DIVERGENT and vectors is None
        center = default_center(ndet, self.beam) if self.center is None else check_center(self.center, ndet)
        nx = ndet if self.num_gridx is None else check_grid_size("num_gridx", self.num_gridx)
        ny = ndet if self.num_gridy is None else check_grid_size("num_gridy", self.num_gridy)
        if fan:
            missing = [k for k in ("source_origin", "origin_detector") if getattr(self, k) is None]
            if missing:
                raise ValueError(
                    f"beam={self.beam!r} needs {' and '.join(missing)} (in reconstruction-pixel units)"
                )
            so = check_positive("source_origin", self.source_origin)
            od = check_positive("origin_detector", self.origin_detector)
            half_diag = 0.5 * math.hypot(nx, ny)
            if so <= half_diag:
                raise ValueError(
                    f"source_origin ({so:g} pixels) must exceed the half diagonal of the "
                    f"{nx}x{ny} grid ({half_diag:g} pixels): the source would sit inside the image"
                )
        else:  # parallel beam, or cone-beam vectors (which refused these already)
            extra = [k for k in ("source_origin", "origin_detector") if getattr(self, k) is not None]
            if extra:
                raise ValueError(f"{', '.join(extra)} only apply to beam='fanflat' or 'cone'")
            so = od = None
        spacing = 1.0 if self.detector_spacing is None else check_positive(
            "detector_spacing", self.detector_spacing
        )
        if vectors is not None:
            spacing, row_spacing = (float(np.linalg.norm(vectors[:, i:i + 3], axis=1).mean()) for i in (6, 9))
        elif self.beam == "cone":
            row_spacing = spacing if self.detector_row_spacing is None else check_positive(
                "detector_row_spacing", self.detector_row_spacing)
        elif self.detector_row_spacing is not None:
            raise ValueError("detector_row_spacing only applies to beam='cone'")
        else:
            row_spacing = None
        projector = self.projector or DEFAULT_PROJECTOR[self.beam]
        if projector not in PROJECTORS[self.beam]:
            raise ValueError(
                f"projector must be one of {PROJECTORS[self.beam]} for beam={self.beam!r}, "
                f"got {projector!r}"
            )
        for name, value in (
            ("theta", theta), ("ndet", ndet), ("center", center), ("num_gridx", nx),
            ("num_gridy", ny), ("source_origin", so), ("origin_detector", od),
            ("detector_spacing", spacing), ("projector", projector), ("detector_row_spacing", row_spacing),
            ("vectors", vectors),
        ):
            object.__setattr__(self, name, value)
        digest = hashlib.sha1(theta.tobytes())
        digest.update(repr((ndet, center, nx, ny, self.beam, so, od, spacing, projector)
                           + ((row_spacing,) if row_spacing is not None else ())).encode())
        if vectors is not None:
            digest.update(vectors.tobytes())
        object.__setattr__(self, "key", digest.hexdigest())

    def _checked_vectors(self, nproj: int, ndet: int) -> np.ndarray:
        """The ``vectors`` checked against the other fields (which they replace)."""
        if self.beam != "cone":
            raise ValueError(f"vectors only apply to beam='cone', got beam={self.beam!r}")
        given = [k for k in ("source_origin", "origin_detector", "detector_spacing", "detector_row_spacing")
                 if getattr(self, k) is not None]
        if given:
            raise ValueError(f"vectors describe the whole cone-beam geometry: leave out {', '.join(given)}")
        if self.center is not None and float(self.center) != default_center(ndet, "cone"):
            raise ValueError("vectors place the detector themselves: leave center out (the vectors of a "
                             "shifted detector carry the shift)")
        vectors = check_vectors(self.vectors)
        if vectors.shape[0] != nproj:
            raise ValueError(f"vectors has {vectors.shape[0]} rows but theta {nproj} angles: one row per view")
        return vectors

    # ------------------------------------------------------------------ basic properties
    @property
    def nproj(self) -> int:
        """Number of projection angles."""
        return int(self.theta.size)

    @property
    def shape_sino(self) -> tuple[int, int]:
        """Sinogram shape ``(nproj, ndet)``."""
        return (self.nproj, self.ndet)

    @property
    def shape_image(self) -> tuple[int, int]:
        """Image shape ``(num_gridx, num_gridy)``."""
        return (self.num_gridx, self.num_gridy)

    @property
    def size(self) -> float:
        """Characteristic image size in pixels, ``sqrt(num_gridx * num_gridy)``."""
        return math.sqrt(self.num_gridx * self.num_gridy)

    @property
    def magnification(self) -> float:
        """Source-detector over source-origin distance (1 for parallel beam; with ``vectors``,
        the mean over the views of the source's distance to the detector plane over its
        distance to the z axis)."""
        if self.beam == "parallel":
            return 1.0
        if self.vectors is not None:
            sod = np.maximum(np.hypot(self.vectors[:, 0], self.vectors[:, 1]), 1e-9)
            return float(np.mean(source_detector_distance(self.vectors) / sod))
        return (self.source_origin + self.origin_detector) / self.source_origin

    @property
    def spacing_at_axis(self) -> float:
        """Detector pixel pitch projected onto the rotation axis, in image pixels."""
        return self.detector_spacing / self.magnification

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Geometry) and other.key == self.key

    def replace(self, **changes: Any) -> "Geometry":
        """Return a copy with some fields changed."""
        fields = {
            k: getattr(self, k)
            for k in ("theta", "ndet", "center", "num_gridx", "num_gridy", "beam", "source_origin",
                      "origin_detector", "detector_spacing", "projector", "detector_row_spacing", "vectors")
        }
        if self.beam == "parallel" and changes.get("beam", "parallel") == "parallel":
            fields.pop("source_origin")
            fields.pop("origin_detector")
        if changes.get("beam", self.beam) != "cone":
            fields.pop("detector_row_spacing")
        if self.vectors is not None:  # the vectors stand for the circular fields
            for k in ("source_origin", "origin_detector", "detector_spacing", "detector_row_spacing", "center"):
                fields.pop(k)
        fields.update(changes)
        return Geometry(**fields)

    def scaled(self, factor: float) -> "Geometry":
        """The same scan with every length multiplied by ``factor``: grid, detector, centre
        and fan distances (the detector spacing, in image pixels, stays).

        Examples
        --------
        >>> g = Geometry(np.linspace(0, np.pi, 4, endpoint=False), ndet=512, center=250.0)
        >>> s = g.scaled(0.25)
        >>> s.ndet, s.num_gridx, s.center
        (128, 128, 62.5)
        """
        size = lambda n: max(2, int(round(n * factor)))  # noqa: E731
        ndet = size(self.ndet)
        changes: dict[str, Any] = {"ndet": ndet, "num_gridx": size(self.num_gridx),
                                   "num_gridy": size(self.num_gridy)}
        if self.vectors is not None:  # positions scale, the pixel steps u and v stay
            vec = self.vectors.copy()
            vec[:, :6] *= factor
            return self.replace(vectors=vec, **changes)
        changes["center"] = min(max(self.center * factor, -0.5), ndet - 0.5)
        if self.beam != "parallel":
            changes.update(source_origin=self.source_origin * factor, origin_detector=self.origin_detector * factor)
        return self.replace(**changes)

    def describe(self) -> dict:
        """A JSON-friendly description (used in checkpoint metadata)."""
        th = self.theta
        return {
            "beam": self.beam,
            "nproj": self.nproj,
            "theta_first": float(th[0]),
            "theta_last": float(th[-1]),
            "theta_range": float(th.max() - th.min()),
            "ndet": self.ndet,
            "center": self.center,
            "num_gridx": self.num_gridx,
            "num_gridy": self.num_gridy,
            "source_origin": self.source_origin,
            "origin_detector": self.origin_detector,
            "detector_spacing": self.detector_spacing,
            "projector": self.projector,
            **({"detector_row_spacing": self.detector_row_spacing} if self.beam == "cone" else {}),
            **({"vectors": self.vectors.tolist()} if self.vectors is not None else {}),
        }

    # ------------------------------------------------------------------ ASTRA translation
    def axis_pixel(self) -> tuple[int, int]:
        """Pixel ``(row, column)`` whose centre lies on the rotation axis (as in gridrec)."""
        return (self.num_gridx // 2 - 1, -(-self.num_gridy // 2))

    def window(self) -> tuple[float, float, float, float]:
        """The grid's extent ``(min_x, max_x, min_y, max_y)`` in pixels, with the rotation axis
        at the origin (:meth:`axis_pixel`)."""
        r0, c0 = self.axis_pixel()
        min_x, max_y = -(c0 + 0.5), r0 + 0.5
        return min_x, min_x + self.num_gridy, max_y - self.num_gridx, max_y

    def astra_vol_geom(self) -> dict:
        """ASTRA volume geometry: rows = ``num_gridx``, columns = ``num_gridy``."""
        import astra

        min_x, max_x, min_y, max_y = self.window()
        return astra.create_vol_geom(self.num_gridx, self.num_gridy, min_x, max_x, min_y, max_y)

    def astra_proj_geom(self, angles: np.ndarray | None = None) -> dict:
        """ASTRA projection geometry (a ``*_vec`` geometry carrying the centre shift)."""
        import astra

        theta = self.theta if angles is None else np.asarray(angles, dtype=np.float64)
        if self.beam == "cone":
            raise ValueError("a cone-beam geometry has no 2-D projection geometry: use astra_cone_geoms")
        if self.beam == "parallel":
            geom = astra.create_proj_geom("parallel", self.detector_spacing, self.ndet, theta)
        else:
            geom = astra.create_proj_geom(
                "fanflat", self.detector_spacing, self.ndet, theta, self.source_origin,
                self.origin_detector,
            )
        return astra.geom_postalignment(geom, (self.ndet - 1) / 2.0 - self.center)

    def detector_offsets(self) -> np.ndarray:
        """Signed distance of each detector pixel from the axis ray, at the detector (pixels)."""
        return (np.arange(self.ndet) - self.center) * self.detector_spacing

    def astra_cone_geoms(self, nslices: int) -> tuple[dict, dict]:
        """ASTRA's 3-D volume and ``cone_vec`` projection geometries of a cone-beam scan with
        ``nslices`` detector rows, reconstructed on as many slices.

        The volume is ``(nslices, num_gridx, num_gridy)`` with the in-plane window of
        :meth:`astra_vol_geom`; ASTRA's 3-D volumes count rows along +y (its 2-D ones along
        -y), so the operator flips the rows. The detector is shifted by ``center`` horizontally;
        its middle row faces the source (the source moves in the plane of the middle slice).
        With :attr:`vectors`, the projection geometry is ``cone_vec`` with those vectors.
        """
        import astra

        if self.beam != "cone":
            raise ValueError(f"astra_cone_geoms needs beam='cone', not {self.beam!r}")
        vol = astra.create_vol_geom(self.num_gridx, self.num_gridy, int(nslices), *self.window(),
                                    -nslices / 2.0, nslices / 2.0)
        if self.vectors is not None:
            return vol, astra.create_proj_geom("cone_vec", int(nslices), self.ndet, np.array(self.vectors))
        proj = astra.create_proj_geom("cone", self.detector_spacing, self.detector_row_spacing, int(nslices),
                                      self.ndet, self.theta, self.source_origin, self.origin_detector)
        return vol, astra.geom_postalignment(proj, ((self.ndet - 1) / 2.0 - self.center, 0.0))

    def ray_cosines(self, rows: int = 1) -> np.ndarray:
        """Cosine of the angle between each ray and its detector's normal, ``(rows, nproj,
        ndet)`` (FDK's and fan-beam FBP's weights; ``rows`` detector rows for cone beam, 1 for
        fan beam). Computed from the ASTRA vectors of the geometry (:meth:`astra_proj_geom`,
        :meth:`astra_cone_geoms`), so a circular and a vector geometry share the rule.
        """
        if self.beam not in DIVERGENT:
            raise ValueError(f"ray_cosines needs a divergent beam {DIVERGENT}, not {self.beam!r}")
        if self.beam == "cone":
            vec = np.asarray(self.astra_cone_geoms(rows)[1]["Vectors"], dtype=np.float64)
        else:  # source, detector centre and u in the plane
            vec = in_plane_vectors(np.asarray(self.astra_proj_geom()["Vectors"], dtype=np.float64))
        return _ray_cosines(vec, self.ndet, rows)
