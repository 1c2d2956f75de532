"""From a photo to a plan: diagnosis (what is wrong and how badly), metrics, and later the autopilot.

:mod:`.analysis` measures a photo (noise, JPEG damage, blur, colour cast, exposure, content type,
faces) in calibrated, human units; :mod:`.metrics` compares two images the way the super-resolution
literature does (BasicSR's PSNR/SSIM conventions); :mod:`.face_detect` finds faces with YuNet.
"""
