"""A throwaway certificate authority for the TLS tests, made with the openssl
command line: a CA, a server certificate for localhost/127.0.0.1 (also usable
as a client certificate, as nodes of a cluster present it to each other),
client certificates, and a second, untrusted CA."""

import subprocess


def _run(*argv, cwd):
    result = subprocess.run(["openssl", *argv], cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


class Pki:
    def __init__(self, directory):
        self.dir = directory
        for ca in ("ca", "rogue-ca"):
            _run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-days", "2", "-subj", f"/CN=Squadron test {ca}",
                 cwd=directory)
        self.ca = directory / "ca.pem"
        self.rogue_ca = directory / "rogue-ca.pem"
        self.server_cert, self.server_key = self.issue("server", "localhost",
                                                       san="DNS:localhost,IP:127.0.0.1",
                                                       usage="serverAuth,clientAuth")

    def issue(self, name, common_name, san=None, usage="clientAuth", ca="ca"):
        """A key and a certificate signed by `ca`; returns their paths."""
        ext = self.dir / f"{name}.ext"
        lines = [f"extendedKeyUsage={usage}"]
        if san:
            lines.append(f"subjectAltName={san}")
        ext.write_text("\n".join(lines) + "\n")
        _run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
             f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={common_name}", cwd=self.dir)
        _run("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
             "-out", f"{name}.pem", "-days", "2", "-extfile", ext.name, cwd=self.dir)
        return self.dir / f"{name}.pem", self.dir / f"{name}.key"
