"""The overfitted image codec (Cool-chic / C3 style), in progress: not yet a registered family.

So far its float model (:mod:`neuralcodec.codecs.coolchic.net`) and fitting schedule
(:mod:`neuralcodec.codecs.coolchic.schedule`), measured by ``scripts/coolchic_pilot.py`` (seconds per iteration,
rate and PSNR against iterations; ``docs/results.md``). The exact integer decoder, the bitstream and the
``codec encode --codec coolchic`` path come next; until then nothing here writes or reads files.
"""
