"""How close the time estimate comes to the real run (ratio estimate / real), from both sources.

    python bench/estimate.py            # x4plus and animevideov3-x2 on astronaut crops, this machine's threads

``revive.pipeline.estimate`` prices a model step by the pixels its tiles cover over all its passes,
at the speed the catalog declares (``cpu_seconds_per_mp``, before a model is loaded: "declared")
or at the speed timed on one sample tile of the photo with the loaded model (the note before a
run: "probed"). A ratio near 1 is the aim; anything within 0.5–2 is good enough to say "about 3
minutes". Declared costs move with the machine and its load; the probe follows both.
"""

from __future__ import annotations

import time

import numpy as np
from skimage import data

from revive import api
from revive.pipeline.estimate import estimate_seconds, probed_speed
from revive.stages.planning import Step
from revive.types import Photo

CASES = (("realesrgan-x4plus", 128), ("realesrgan-x4plus", 256), ("realesr-animevideov3-x2", 512),
         ("waifu2x-photo-x2", 512))


def main() -> None:
    image = data.astronaut()
    engine = api.default_engine()
    print(f"threads: {engine.threads}")
    print(f"{'model':<26}{'input':>8}{'declared s':>12}{'probed s':>10}{'real s':>9}{'declared/real':>15}{'probed/real':>13}")
    for model, side in CASES:
        crop = np.ascontiguousarray(image[:side, :side])
        photo, steps = Photo.from_array(crop), [Step("upscale", api.UpscaleParams(model=model), "")]
        api.upscale(crop[:32, :32], model=model, engine=engine)  # load and warm the model first
        declared = estimate_seconds(steps, (side, side), engine)
        probed = estimate_seconds(steps, (side, side), engine, speeds={model: probed_speed(engine.load(model), photo)})
        started = time.perf_counter()
        api.upscale(crop, model=model, engine=engine)
        real = time.perf_counter() - started
        print(f"{model:<26}{side:>6}²{declared:>12.2f}{probed:>10.2f}{real:>9.2f}{declared / real:>15.2f}"
              f"{probed / real:>13.2f}")


if __name__ == "__main__":
    main()
