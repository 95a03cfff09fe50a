"""Probe: the AN4 recipe with cut windows of another pad (own cache dir, as the name does not say the pad)."""
import sys
import asr.encoder
asr.encoder.CUT_PAD_SECONDS = float(sys.argv.pop(1))
from recipes.an4.__main__ import main
sys.exit(main(sys.argv[1:]))
