"""Coverage-guided fuzz targets for every securemq parser that reads network input.

Each ``fuzz_*`` module exposes ``TestOneInput(data: bytes)``, importable without atheris
(``tests/test_fuzz_corpus.py`` replays the seed corpus through all of them), and a
``main()`` that runs it under atheris. See ``fuzz/README.md``.
"""
