"""Speed up a 2-D convolution (valid cross-correlation) of a float64 image with a
float64 kernel, matching the reference output."""
import base64

import numpy as np


# EVOLVE-BLOCK-START
def conv2d(image, kernel):
    """Return out with out[i, j] = sum_{p, q} image[i + p, j + q] * kernel[p, q]
    for 0 <= i <= H - KH, 0 <= j <= W - KW (a 'valid' cross-correlation: the
    kernel is not flipped), as a float64 array of shape (H - KH + 1, W - KW + 1).

    image: float64 array (H, W) = (200, 184); kernel: float64 array (KH, KW) =
    (37, 33); fresh random values on every call.  The result must match the
    reference within 1e-10 * max|image| * sum|kernel| at every position.  The
    score is the speed-up over the reference, timed on this machine.

    This starting point is the reference itself: one shifted multiply-add of
    the whole output per kernel tap (KH * KW numpy operations).
    """
    kh, kw = kernel.shape
    oh, ow = image.shape[0] - kh + 1, image.shape[1] - kw + 1
    out = np.zeros((oh, ow))
    for p in range(kh):
        for q in range(kw):
            out += kernel[p, q] * image[p:p + oh, q:q + ow]
    return out
# EVOLVE-BLOCK-END


def conv2d_packed(image_b64, image_shape, kernel_b64, kernel_shape):
    """Called by the evaluator: arrays travel as base64 strings of little-endian
    float64 bytes (much cheaper to transfer than lists of numbers)."""
    image = np.frombuffer(bytearray(base64.b64decode(image_b64)), dtype="<f8").reshape(image_shape)
    kernel = np.frombuffer(bytearray(base64.b64decode(kernel_b64)), dtype="<f8").reshape(kernel_shape)
    out = np.ascontiguousarray(conv2d(image, kernel), dtype="<f8")
    return base64.b64encode(out.tobytes()).decode("ascii")
