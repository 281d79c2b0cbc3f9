"""Settings shared by the producer and the workers: Kafka connection, topics, and how to load.

Every setting is an environment variable with the ``TOOLTRAIL_`` prefix (the seed's flag names
are accepted as aliases where ARCHITECTURE.md says so). ``load_settings`` turns pydantic's
validation errors into one ``SettingsError`` that names each variable, the bad value and what
is allowed, so a misconfigured process fails at start with a message a human can act on.
"""

from __future__ import annotations

import re
import ssl
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AliasChoices,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic import model_validator as _model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tooltrail.schemas.errors import SettingsError
from tooltrail.schemas.keys import parse_key_args
from tooltrail.schemas.signing import MIN_KEY_CHARS

S = TypeVar("S", bound="TooltrailSettings")
ENV_PREFIX = "TOOLTRAIL_"
_MEMORY_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_HOST_PORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):([0-9]{1,5})$")
_SASL_FIELDS = ("kafka_sasl_mechanism", "kafka_sasl_username", "kafka_sasl_password")
_SSL_FIELDS = ("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile", "kafka_ssl_password")
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]*@")


def mask_credentials(text: str) -> str:
    """``https://user:pw@host`` → ``https://***@host`` (and likewise inside any text)."""
    return _USERINFO.sub(r"\1***@", text)


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


#: A comma-separated list in the environment, a tuple in Python.
CsvList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_split_csv)]


def env_alias(name: str, *seed_names: str) -> AliasChoices:
    """Accept ``TOOLTRAIL_<NAME>`` and the seed's flag names for one field."""
    return AliasChoices(name, ENV_PREFIX + name.upper(), *seed_names)


class TooltrailSettings(BaseSettings):
    """Base of every settings class: frozen, ``TOOLTRAIL_`` prefix, unknown variables ignored.

    An empty variable counts as unset, so a manifest may list a key it leaves blank.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_ignore_empty=True,  # `TOOLTRAIL_X=` (e.g. an unfilled Secret key) means the default
        frozen=True,
        extra="ignore",
        populate_by_name=True,
        use_attribute_docstrings=True,
    )


class KafkaSettings(TooltrailSettings):
    """How to reach Kafka, and the topic names."""

    kafka_bootstrap: str = Field("127.0.0.1:9092", min_length=1)
    """Kafka bootstrap servers, `host:port[,host:port]` (`memory://NAME`: in-process stand-in)."""

    @field_validator("kafka_bootstrap")
    @classmethod
    def _valid_bootstrap(cls, value: str) -> str:
        if value.startswith("memory://"):
            if not _MEMORY_NAME.match(value.removeprefix("memory://")):
                raise ValueError("expected memory://NAME with NAME of letters, digits, . _ -")
            return value
        for part in value.split(","):
            m = _HOST_PORT.match(part.strip())
            if m is None or not 1 <= int(m.group(2)) <= 65_535:
                raise ValueError(
                    "expected host:port[,host:port…] with ports 1-65535, e.g. 127.0.0.1:9092"
                )
        return value

    kafka_client_id: str = "tooltrail"
    """Client id sent to the broker."""
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    """`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`."""
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    """`PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512` (required with SASL)."""
    kafka_sasl_username: str | None = None
    """SASL user name (required with SASL)."""
    kafka_sasl_password: SecretStr | None = None
    """SASL password (secret)."""
    kafka_ssl_cafile: Path | None = None
    """CA bundle to verify the brokers (SSL)."""
    kafka_ssl_certfile: Path | None = None
    """Client certificate for mutual TLS."""
    kafka_ssl_keyfile: Path | None = None
    """Private key of the client certificate."""
    kafka_ssl_password: SecretStr | None = None
    """Password of the client key (secret)."""
    kafka_allow_plaintext_password: bool = False
    """Allow SASL `PLAIN` over `SASL_PLAINTEXT` (the password travels in clear text)."""
    events_topic: str = Field("tooltrail.events.v2", pattern=r"^[A-Za-z0-9._-]{1,249}$")
    """Topic of tool-call events."""
    dlq_topic: str = Field("tooltrail.events.dlq", pattern=r"^[A-Za-z0-9._-]{1,249}$")
    """Dead-letter topic: messages a group could not process, with the reason."""
    enrichment_topic: str = Field("tooltrail.enrichment", pattern=r"^[A-Za-z0-9._-]{1,249}$")
    """Compacted topic of pre-search cache entries."""
    status_topic: str = Field("tooltrail.status", pattern=r"^[A-Za-z0-9._-]{1,249}$")
    """Compacted topic where workers report their state and last error (`tooltrail stats`)."""
    cache_key_args: str = ""
    """Arguments scoping the pre-search cache key per tool, `tool=a,b;tool2=c` (default: all)."""

    @field_validator("cache_key_args")
    @classmethod
    def _valid_key_args(cls, value: str) -> str:
        parse_key_args(value)  # raises ValueError naming the bad part
        return value

    enrichment_key: SecretStr | None = None
    """Key shared by the enrich group and the tool servers to sign and verify enrichment
    entries (secret, at least 32 characters; `tooltrail up` generates one per data dir)."""
    enrichment_key_file: Path | None = None
    """File holding that key instead (e.g. a mounted Secret); surrounding whitespace ignored."""
    enrichment_unsigned: bool = False
    """With no key: publish (enrich group) and accept (tool server) unsigned entries. Only for a
    closed test setup; both sides must set it (README "Trust model")."""

    @property
    def key_scope(self) -> dict[str, tuple[str, ...]]:
        """``TOOLTRAIL_CACHE_KEY_ARGS`` parsed."""
        return parse_key_args(self.cache_key_args)

    @_model_validator(mode="after")
    def _security_is_complete(self) -> KafkaSettings:
        protocol = self.kafka_security_protocol
        unused_sasl = [f"TOOLTRAIL_{n.upper()}" for n in _SASL_FIELDS if getattr(self, n)]
        if unused_sasl and not protocol.startswith("SASL"):
            raise ValueError(
                f"{', '.join(unused_sasl)} set, but TOOLTRAIL_KAFKA_SECURITY_PROTOCOL={protocol}"
                " would connect without SASL (and in plaintext): set it to SASL_SSL"
            )
        unused_ssl = [f"TOOLTRAIL_{n.upper()}" for n in _SSL_FIELDS if getattr(self, n)]
        if unused_ssl and not protocol.endswith("SSL"):
            raise ValueError(
                f"{', '.join(unused_ssl)} set, but TOOLTRAIL_KAFKA_SECURITY_PROTOCOL={protocol}"
                " would connect in plaintext: set it to SSL or SASL_SSL"
            )
        if (
            protocol == "SASL_PLAINTEXT"
            and self.kafka_sasl_mechanism == "PLAIN"
            and not self.kafka_allow_plaintext_password
        ):
            raise ValueError(
                "TOOLTRAIL_KAFKA_SASL_MECHANISM=PLAIN with TOOLTRAIL_KAFKA_SECURITY_PROTOCOL="
                "SASL_PLAINTEXT would send the password in clear text: use SASL_SSL (or a SCRAM "
                "mechanism), or set TOOLTRAIL_KAFKA_ALLOW_PLAINTEXT_PASSWORD=true"
            )
        sasl = protocol.startswith("SASL")
        if sasl and not (self.kafka_sasl_mechanism and self.kafka_sasl_username):
            raise ValueError(
                "TOOLTRAIL_KAFKA_SASL_MECHANISM and TOOLTRAIL_KAFKA_SASL_USERNAME are required "
                f"when TOOLTRAIL_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol}"
            )
        for name in ("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"TOOLTRAIL_{name.upper()}={path} is not a readable file")
        return self

    @_model_validator(mode="after")
    def _one_enrichment_key(self) -> KafkaSettings:
        if self.enrichment_key is not None and self.enrichment_key_file is not None:
            raise ValueError(
                "TOOLTRAIL_ENRICHMENT_KEY and TOOLTRAIL_ENRICHMENT_KEY_FILE are both set: keep one"
            )
        key = self.enrichment_signing_key()  # raises naming the setting
        if key is not None and self.enrichment_unsigned:
            raise ValueError(
                "TOOLTRAIL_ENRICHMENT_UNSIGNED=true with an enrichment key set: unset one of them"
            )
        return self

    def enrichment_signing_key(self) -> bytes | None:
        """The shared enrichment key (from the setting or its file), or None if neither is set.

        Raises:
            ValueError: naming the setting when the file is unreadable or the key too short.
        """
        name, text = "TOOLTRAIL_ENRICHMENT_KEY", None
        if self.enrichment_key is not None:
            text = self.enrichment_key.get_secret_value().strip()
        elif self.enrichment_key_file is not None:
            name = f"TOOLTRAIL_ENRICHMENT_KEY_FILE={self.enrichment_key_file}"
            try:
                text = self.enrichment_key_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"{name} cannot be read: {exc.strerror or exc}") from None
            except UnicodeDecodeError:
                raise ValueError(f"{name} is not UTF-8 text") from None
        if text is None:
            return None
        if len(text) < MIN_KEY_CHARS:
            raise ValueError(
                f"{name}: the key must have at least {MIN_KEY_CHARS} characters "
                "(e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)"
            )
        return text.encode()

    def kafka_kwargs(self) -> dict[str, Any]:
        """Connection keyword arguments for aiokafka clients (bootstrap, security, client id)."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.kafka_bootstrap,
            "client_id": self.kafka_client_id,
            "security_protocol": self.kafka_security_protocol,
        }
        if self.kafka_security_protocol.startswith("SASL"):
            kwargs["sasl_mechanism"] = self.kafka_sasl_mechanism
            kwargs["sasl_plain_username"] = self.kafka_sasl_username
            password = self.kafka_sasl_password
            kwargs["sasl_plain_password"] = password.get_secret_value() if password else None
        if self.kafka_security_protocol.endswith("SSL"):
            kwargs["ssl_context"] = self.ssl_context()
        return kwargs

    def ssl_context(self) -> ssl.SSLContext:
        """TLS for Kafka: the CA file (else the system's), hostname checked, a client cert."""
        context = ssl.create_default_context(
            cafile=str(self.kafka_ssl_cafile) if self.kafka_ssl_cafile else None
        )
        if self.kafka_ssl_certfile is not None:
            password = self.kafka_ssl_password
            context.load_cert_chain(
                str(self.kafka_ssl_certfile),
                str(self.kafka_ssl_keyfile) if self.kafka_ssl_keyfile else None,
                password.get_secret_value() if password else None,
            )
        return context


def load_settings(cls: type[S], **overrides: Any) -> S:
    """Build ``cls`` from the environment plus ``overrides``.

    Raises:
        SettingsError: naming every invalid variable, its value and what is allowed.
    """
    try:
        return cls(**overrides)
    except ValidationError as exc:
        raise SettingsError(_describe(cls, exc)) from None


def env_names(cls: type[TooltrailSettings], field: str) -> list[str]:
    """The environment variable names that set ``field`` (``TOOLTRAIL_X`` first, then aliases)."""
    info = cls.model_fields.get(field)
    names = [ENV_PREFIX + field.upper()]
    if info is not None and isinstance(info.validation_alias, AliasChoices):
        names += [
            str(a)
            for a in info.validation_alias.choices
            if str(a).isupper() and str(a) not in names
        ]
    return names


def _describe(cls: type[TooltrailSettings], exc: ValidationError) -> list[str]:
    by_alias = {
        str(alias).lower(): name
        for name, info in cls.model_fields.items()
        if isinstance(info.validation_alias, AliasChoices)
        for alias in info.validation_alias.choices
    }
    problems = []
    for err in exc.errors(include_url=False):
        loc = str(err["loc"][0]) if err["loc"] else ""
        field = by_alias.get(loc.lower(), loc)
        if not field:
            problems.append(mask_credentials(str(err["msg"]).removeprefix("Value error, ")))
            continue
        secret = "password" in field or "token" in field or field == "enrichment_key"
        value = "<hidden>" if secret else mask_credentials(repr(err.get("input")))
        names = " / ".join(env_names(cls, field)) if field in cls.model_fields else field
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "string_pattern_mismatch":  # pydantic shows the regex: say it in words
            info = cls.model_fields.get(field)
            meaning = " ".join((info.description or "").split()) if info else ""
            message = "not of the allowed form" + (f": {meaning}" if meaning else "")
        problems.append(f"{names} = {value}: {message}")
    return problems
