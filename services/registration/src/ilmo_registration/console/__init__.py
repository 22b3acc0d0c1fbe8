"""The organiser console: the registration service's pages for the people who run events.

It lives in the registration service because what it shows and changes is
this service's own data, through this service's own use cases; what it
shows of the other services (the dashboard's counts) it reads from their
APIs, as any client would.

How it fits together:

- ``sign_in``: OpenID Connect, authorization code with PKCE, against
  ``ILMO_OIDC_ISSUER`` with the console's client (``ILMO_OIDC_CLIENT_ID``,
  ``ILMO_OIDC_CLIENT_SECRET``); the access token's ``Principal`` (its roles)
  starts a session. Sign-out ends the session and then the provider's.
- ``session``: ``ConsoleSessions`` keeps sessions server-side
  (``storage.console_sessions``) behind the ``ilmo_console`` cookie, with an
  idle and an absolute timeout. ``sessions.requires(Permission.X)`` is the
  one dependency of every console route::

      @router.get("/console/...", response_class=HTMLResponse)
      async def page(request: Request, principal: Annotated[Principal, reader]) -> Response:

  where ``reader = sessions.requires(Permission.READ_EVENTS)``. It answers
  by itself when the route must not run: not signed in, a 303 to
  ``/console/sign-in?next=``; no permission, a 403 page; a POST whose CSRF
  token is not the session's, a 403 page. A POST route reads its checked
  fields with ``session.submitted_form(request)``. A new route needs a row
  in tests/integration/test_console_authorization_matrix.py, which reads
  each route's permission from the app (``session.console_requirements``).
- ``pages``: ``console_page(request, "console/x.html", title=..., **values)``
  renders a template that extends ``console/base.html`` (blocks ``title`` and
  ``main``) with ``principal``, ``language``, ``section`` (``"events"`` or
  ``"audit"``: the current navigation link) and ``csrf_field()``, which
  every console form writes inside it::

      <form method="post" action="...">{{ csrf_field() }} ... </form>

  ``message`` is a page that says one thing; ``text`` translates a message.
  The stylesheet's console part (``static/ilmo.css``) has ``table.data``
  for lists (``table.data.stack`` with ``data-label`` on each ``td``: cards
  on a phone), ``.tag``, ``.page-heading`` and ``.actions``.
- ``events``: the list of events, an event, and its form
  (``event_form``: form fields to and from the JSON API's ``EventCreate``).
- ``cancellation``: "Cancel the event", a confirmation page and its POST
  (``UseCases.cancel_event``, as the JSON API's cancellation).
- ``messages``: messages to an event's registrants: write, preview (the
  ``message_id`` is chosen here), send once, follow the delivery.
- ``event_life``: the event page's schedule (notification) and seat notes
  (capacity), read through ``other_services``.
- ``audit_page`` and ``audit_views``: the audit trail, its details' codes
  (``audit_details``) in the reader's language.

A query parameter that means nothing (``page=abc``, an unknown sort) is
ignored, never a "page not found": the page is shown as without it.

Every text is in the service's gettext catalogue (fi, sv; English is the
source). Every page works without JavaScript. The one script, on signed-in
pages only, is the session's timeout warning (``timeout``,
``continuation``, ``static/console-timeout.js``): the page renders its
texts, the script only shows them and counts down.
"""
