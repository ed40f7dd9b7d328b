"""Starts moto's server (moto 5.2.1) for the SecureSite test world, with one fix applied first.

moto's ImportCertificate reads the subject's Common Name with
``cert.subject.get_attributes_for_oid(COMMON_NAME)[0]`` and fails with an IndexError (HTTP 500)
when the subject has none. Certificates from ACME CAs (pebble, and Let's Encrypt since its
short-lived profiles) have an empty subject and carry the names only in subjectAltName, and AWS
imports them, taking the first DNS name as DomainName. The patch gives such a certificate a
subject whose Common Name is that first DNS name, for moto's bookkeeping only; everything else
(the PEM moto stores and returns, validity, key checks) is left as moto does it.

usage: python moto_launcher.py -H 127.0.0.1 -p PORT   (the arguments of moto_server)
"""

import sys

from cryptography import x509
from cryptography.x509.oid import ExtensionOID, NameOID

import moto.acm.models as acm_models
import moto.server


class _CertificateWithSANSubject:
    """A certificate whose empty subject reads as CN=<first subjectAltName DNS name>."""

    def __init__(self, cert, name):
        self._cert = cert
        self.subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])

    def __getattr__(self, attr):
        return getattr(self._cert, attr)


def _first_dns_name(cert):
    try:
        san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    except x509.ExtensionNotFound:
        return None
    names = san.value.get_values_for_type(x509.DNSName)
    return names[0] if names else None


_validate_certificate = acm_models.CertBundle.validate_certificate


def _validate_certificate_without_cn(self):
    cert = _validate_certificate(self)
    if cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
        return cert
    name = _first_dns_name(cert)
    if name is None:
        return cert
    return _CertificateWithSANSubject(cert, name)


acm_models.CertBundle.validate_certificate = _validate_certificate_without_cn

if __name__ == "__main__":
    moto.server.main(sys.argv[1:])
