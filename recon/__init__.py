"""recon: nightly bank reconciliation for companies on the Conta Azul ERP."""

__version__ = "0.1.0"
