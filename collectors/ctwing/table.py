"""Vendor code tables: which ``serviceData`` code means which record, loaded and checked at start-up."""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from gateway.models import EventType

_VENDOR_PACKAGE = "collectors.ctwing.vendors"


def normalise_codes(codes: Any) -> Any:
    """Codes are matched as text: YAML/JSON options may give integer keys (``1: alarm``), TOML strings."""
    if isinstance(codes, dict):
        return {str(k) if type(k) is int else k: v for k, v in codes.items()}
    return codes


class ServiceRule(BaseModel):
    """How one ``serviceId`` is decoded: a code field looked up in ``codes``, or one fixed ``record``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code_field: str | None = None
    codes: dict[str, EventType] = {}
    #: For a service without codes: what every message of it is (``heartbeat`` is a reading).
    record: EventType | None = None

    _normalise = field_validator("codes", mode="before")(normalise_codes)

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        if self.record is not None and (self.code_field or self.codes):
            raise ValueError("give either 'record' or 'code_field' with 'codes', not both")
        if self.record is None and not (self.code_field and self.codes):
            raise ValueError("give 'code_field' and a non-empty 'codes' table, or a fixed 'record'")
        return self


class VendorTable(BaseModel):
    """One vendor's codes: a rule per ``serviceId``, and optionally a rule for any other ``serviceId``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    battery_field: str = "battery"
    signal_field: str = "rsrp"
    services: dict[str, ServiceRule] = {}
    #: Rule for a ``serviceId`` not in ``services`` (a custom table from the options is only this rule).
    any_service: ServiceRule | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if not self.services and self.any_service is None:
            raise ValueError("the table has no services")
        return self


def builtin_vendors() -> list[str]:
    """Names of the vendor tables shipped in ``collectors/ctwing/vendors/``."""
    folder = resources.files(_VENDOR_PACKAGE)
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def load_vendor_table(vendor: str) -> VendorTable:
    """Load and check a built-in table; ValueError naming the file and the problem, or the known vendors."""
    source = resources.files(_VENDOR_PACKAGE).joinpath(f"{vendor}.toml")
    if not source.is_file():
        known = ", ".join(builtin_vendors())
        raise ValueError(f"unknown CTWing vendor table {vendor!r}; built-in tables: {known}")
    try:
        return VendorTable.model_validate(tomllib.loads(source.read_text(encoding="utf-8")))
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise ValueError(f"CTWing vendor table vendors/{vendor}.toml is invalid: {exc}") from exc
