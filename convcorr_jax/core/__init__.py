"""The foundation every package of the library stands on: errors and input checks (`errors`), atomic files
(`io`, `staging`), configs (`config`), name tables (`registry`), caches (`cache`, `compile_cache`, `paths`), processes
and devices (`parallel`, `interrupt`, `exported`), run records (`runinfo`), progress bars (`progress`), geometry
(`geometry`, `crop_geometry`), metrics (`metrics`: keypoints and pose; `segmentation_metrics`;
`correspondence_metrics`: the Proposal Flow benchmark's PCK) and exact nearest neighbours (`knn`), Long et al.'s units
(`long_frame`), optional dependencies (`optional`) and deprecated names (`deprecation`).

It imports no other package of `convcorr_jax`. Former paths (`convcorr_jax.io`, ...) still import, for one
release, with a DeprecationWarning (`deprecation.MOVED_MODULES`).
"""
