// Runs first, before MapLibre: the page requires Trusted Types for every script URL and HTML
// sink. The one script URL the page ever needs is MapLibre's map worker (a file of this origin,
// from the CSP build); anything else, and any HTML string, is refused.
(() => {
  if (!self.trustedTypes || !trustedTypes.createPolicy) return;
  const worker = new URL('/dashboard/vendor/maplibre-gl-csp-worker.js', location.href).href;
  trustedTypes.createPolicy('default', {
    createScriptURL(url) {
      if (new URL(url, location.href).href === worker) return url;
      throw new TypeError(`script URL refused by the dashboard's policy: ${url}`);
    },
  });
})();
