from django.conf import settings

# Everything the platform loads comes from itself: it runs on intranets with no CDN,
# and templates carry no inline script or on…= handlers.
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.header = getattr(settings, "CONTENT_SECURITY_POLICY", CSP)

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", self.header)
        return response


class SecurityHeadersMiddleware:
    """X-Frame-Options and Permissions-Policy on every response, static files included.

    Placed before WhiteNoise, which answers static files itself, before Django's
    XFrameOptionsMiddleware (kept: pages marked exempt from it keep their choice) sees
    them. `setdefault`: a page that set its own header keeps it."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.frame_options = getattr(settings, "X_FRAME_OPTIONS", "DENY").upper()
        self.permissions_policy = getattr(settings, "PERMISSIONS_POLICY", "")

    def __call__(self, request):
        response = self.get_response(request)
        if not getattr(response, "xframe_options_exempt", False):
            response.headers.setdefault("X-Frame-Options", self.frame_options)
        if self.permissions_policy:
            response.headers.setdefault("Permissions-Policy", self.permissions_policy)
        return response
