"""How close the before-the-run time estimate comes to the real run (ratio estimate / real).

    python bench/estimate.py            # x4plus and animevideov3-x2 on astronaut crops, this machine's threads

The estimate times one sample tile of the photo with the loaded model and scales it to the whole
picture, its tile overlap and passes (``revive.pipeline.estimate``); a ratio near 1 is the aim,
anything within 0.5–2 is good enough to say "about 3 minutes".
"""

from __future__ import annotations

import time

import numpy as np
from skimage import data

from revive import api
from revive.pipeline.estimate import estimate_steps
from revive.stages.base import StageContext
from revive.stages.planning import Step
from revive.types import Photo

CASES = (("realesrgan-x4plus", 128), ("realesrgan-x4plus", 256), ("realesr-animevideov3-x2", 512))


def main() -> None:
    image = data.astronaut()
    engine = api.default_engine()
    print(f"{'model':<26}{'input':>8}{'estimate s':>12}{'real s':>9}{'ratio':>8}")
    for model, side in CASES:
        crop = np.ascontiguousarray(image[:side, :side])
        params = api.UpscaleParams(model=model)
        api.upscale(crop[:32, :32], model=model, engine=engine)  # load and warm the model first
        estimate = estimate_steps([Step("upscale", params, "")], Photo.from_array(crop), StageContext(engine))
        started = time.perf_counter()
        api.upscale(crop, model=model, engine=engine)
        real = time.perf_counter() - started
        print(f"{model:<26}{side:>6}²{estimate:>12.2f}{real:>9.2f}{estimate / real:>8.2f}")


if __name__ == "__main__":
    main()
