"""Wire formats: each decodes to and encodes from the neutral IR (`lockgate.ir`)."""
