"""The checked exercises (the top layer, above `beyond`): `registry` (the framework: `get(name).check(answer)`, from
nbs/99_exercises.ipynb) and one module of judges and reference solutions per tool (`makefile`, `lint`, `lightning`,
`dvc`, `clearml`, `beyond`, from nbs/99a-99f). Written by hand: nbdev-export writes the modules, never this file."""
