"""HTML to PDF with WeasyPrint: offline, deterministic, cached.

WeasyPrint lays out our own HTML and CSS; no browser runs. Two properties matter here:

- Offline: the only resources a document may load are ``data:`` URIs (the inline diagram).
  Any other URL fails the build instead of silently reaching the network.
- Same input, same bytes: no creation date is written (the templates carry no
  ``dcterms.created`` meta) and the PDF identifier is a hash of the HTML, not random.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from runbook.engine.store import read_entry, write_entry
from runbook.errors import RunbookError, ToolMissing


class PdfFailed(RunbookError):
    """WeasyPrint could not render a document."""


def _offline_fetcher() -> Any:
    """A fetcher that loads ``data:`` URIs only and fails the render on anything else."""
    try:
        from weasyprint.urls import URLFetcher
    except ImportError:  # WeasyPrint < 66 takes a plain function
        from weasyprint.urls import default_url_fetcher

        def fetch(url: str, *args: Any, **kwargs: Any) -> Any:
            if url.startswith("data:"):
                return default_url_fetcher(url, *args, **kwargs)
            raise PdfFailed(f"documents are rendered offline; refusing to load {url}")

        return fetch
    return URLFetcher(allowed_protocols=["data"], fail_on_errors=True)


def html_to_pdf(html: str) -> bytes:
    """Render one HTML document (with inline CSS) to PDF bytes, deterministically."""
    try:
        from weasyprint import HTML
    except ImportError as exc:  # pragma: no cover - weasyprint is a dependency
        raise ToolMissing(f"WeasyPrint is not installed ({exc}); pip install weasyprint") from exc
    # WeasyPrint logs every unsupported CSS property at WARNING; keep the CLI quiet.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    identifier = hashlib.sha256(html.encode("utf-8")).hexdigest()[:32].encode("ascii")
    try:
        document = HTML(string=html, url_fetcher=_offline_fetcher(), base_url=None)
        data: bytes | None = document.write_pdf(pdf_identifier=identifier)
    except RunbookError:
        raise
    except BaseException as exc:
        # WeasyPrint raises many types (FatalURLFetchingError derives from BaseException);
        # the user needs one line.
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        raise PdfFailed(f"PDF rendering failed: {type(exc).__name__}: {exc}") from exc
    assert data is not None
    return data


def cached_pdf(html: str, workdir: Path | None) -> bytes:
    """``html_to_pdf`` behind a file cache in ``workdir/pdf/``.

    The key is a hash of the complete HTML (which holds the plan's values, the templates'
    output and the generator version from the provenance line) and the WeasyPrint version,
    so an unchanged site is not laid out again. Without a ``workdir`` nothing is cached. A
    kept PDF is checked when read: a damaged one is laid out again.
    """
    if workdir is None:
        return html_to_pdf(html)
    import weasyprint

    # "entry-1": the PDFs are kept as checked entries (runbook.engine.store) since then.
    key = f"entry-1 weasyprint {weasyprint.__version__}\n{html}"
    digest = hashlib.sha256(key.encode()).hexdigest()
    path = Path(workdir) / "pdf" / f"{digest}.pdf"
    data = read_entry(path, "pdf")  # checked: a damaged PDF is laid out again
    if data is not None:
        return data
    data = html_to_pdf(html)
    write_entry(path, data)  # a full cache disk stores nothing, and the build goes on
    return data
