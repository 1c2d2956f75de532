"""C2PA Content Credentials on generated outputs, when ``c2pa-python`` is installed (the ``gen`` extra).

An output whose record says it holds generated pixels (generative upscaling, fill, GAN faces) gets
a signed C2PA manifest besides its XMP: a ``c2pa.created`` action with the IPTC digital source
type for AI-composited media, and revive's processing record (stages, models, seeds, sliders) as
its own assertion. Anyone can then check with any C2PA reader that the picture was made so and
has not been altered since.

Signing needs an identity. By default revive makes one for this computer on first use — a local
CA and an ES256 signing certificate under ``$REVIVE_HOME/c2pa`` (the key readable by its owner
only) — which C2PA readers show as valid but *untrusted*: it proves integrity, not who you are.
``REVIVE_C2PA_CERT`` (a PEM chain, signing certificate first) and ``REVIVE_C2PA_KEY`` (its PEM
private key) sign with your own credentials instead; ``REVIVE_C2PA=off`` leaves the manifest out.
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import ImageWriteError
from ..paths import default_home
from ..types import ProcessingRecord
from ._xmp import GENERATIVE_SOURCE_TYPE

CERT_ENV, KEY_ENV, SWITCH_ENV = "REVIVE_C2PA_CERT", "REVIVE_C2PA_KEY", "REVIVE_C2PA"
MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "tiff": "image/tiff"}
ASSERTION = "org.revive-photo.processing"


def available() -> bool:
    if os.environ.get(SWITCH_ENV, "").strip().lower() in ("off", "0", "no", "false"):
        return False
    try:
        import c2pa  # noqa: F401
    except ImportError:
        return False
    return True


def sign(data: bytes, encoder: str, record: ProcessingRecord, title: str) -> bytes:
    """``data`` (an encoded image) with a signed manifest for ``record``; unchanged for a format C2PA
    does not cover."""
    import c2pa

    mime = MIME.get(encoder)
    if mime is None:
        return data
    import io

    manifest = {
        "claim_generator_info": [{"name": "revive", "version": __version__}],
        "title": title,
        "assertions": [
            # "created": this file is new, made by revive from the user's photo and a model's invention
            {"label": "c2pa.actions", "data": {"actions": [
                {"action": "c2pa.created", "digitalSourceType": GENERATIVE_SOURCE_TYPE,
                 "softwareAgent": {"name": "revive", "version": __version__}}]}},
            {"label": ASSERTION, "data": {"operation": record.operation, "stages": [_stage(s) for s in record.stages]}},
        ],
    }
    chain, key = _identity()
    try:
        signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, key, None))
        out = io.BytesIO()
        with c2pa.Builder(json.dumps(manifest)) as builder:
            builder.sign(signer, mime, io.BytesIO(data), out)
    except Exception as err:  # c2pa raises its own C2paError kinds and ValueErrors for bad credentials
        raise ImageWriteError(f"could not sign the C2PA manifest ({err}); check {CERT_ENV}/{KEY_ENV}, or set "
                              f"{SWITCH_ENV}=off to write without one") from err
    return out.getvalue()


def _stage(stage: Any) -> dict[str, Any]:
    return {"name": stage.name, "model": stage.model, "model_sha256": stage.model_sha256,
            "generative": stage.generative, "params": dict(stage.params)}


def _identity() -> tuple[bytes, bytes]:
    """The signing chain and key: the user's (environment), else this computer's, made on first use."""
    cert, key = os.environ.get(CERT_ENV), os.environ.get(KEY_ENV)
    if cert or key:
        if not (cert and key):
            raise ImageWriteError(f"set both {CERT_ENV} and {KEY_ENV} (PEM files), or neither")
        try:
            return Path(cert).expanduser().read_bytes(), Path(key).expanduser().read_bytes()
        except OSError as err:
            raise ImageWriteError(f"cannot read the C2PA credentials: {err}") from err
    folder = default_home() / "c2pa"
    chain_file, key_file = folder / "chain.pem", folder / "key.pem"
    if not (chain_file.is_file() and key_file.is_file()):
        _make_identity(folder, chain_file, key_file)
    return chain_file.read_bytes(), key_file.read_bytes()


def _make_identity(folder: Path, chain_file: Path, key_file: Path) -> None:
    """A local CA and an ES256 signing certificate under it (C2PA refuses self-signed signing certificates)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "revive (local identity)")])

    def usage(**on: bool) -> x509.KeyUsage:
        flags = dict.fromkeys(("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                               "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"), False)
        return x509.KeyUsage(**{**flags, **on})

    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=3650)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("revive local CA")).issuer_name(name("revive local CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(usage(key_cert_sign=True, crl_sign=True), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(name("revive on this computer")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage(digital_signature=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    chain_file.write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # the key: its owner's eyes only
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
