/** The `ws` guard's path on every worker. The raw bench client asks for `<base>/`, hence the trailing slash. */
export const WS_PATH = '/ws/';
/** What the load adds to a base URL so the raw `ws` client's `<base>/` is {@link WS_PATH}. */
export const WS_PATH_NAME = '/ws';
