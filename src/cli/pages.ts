/** What every List response has in common. */
interface Page {
  readonly nextPageToken: string;
}

/**
 * Fetches one page, or with `all` every page from `pageToken` to the end by following
 * next_page_token, for `--all`. The token is opaque (the contract says so): it is passed back as is.
 */
export async function fetchPages<P extends Page>(
  pageToken: string,
  all: boolean,
  fetch: (pageToken: string) => Promise<P>,
): Promise<P[]> {
  const pages: P[] = [];
  let token = pageToken;
  do {
    const page = await fetch(token);
    pages.push(page);
    // A server that hands back the token it was given would keep `--all` looping forever.
    if (page.nextPageToken === token) break;
    token = page.nextPageToken;
  } while (all && token !== "");
  return pages;
}

/** Tells a table reader how to get the rest; on stderr, so stdout stays the table alone. */
export function hintNextPage(nextPageToken: string, noun: string): void {
  if (nextPageToken === "") return;
  process.stderr.write(`More ${noun}: add --page-token ${nextPageToken}, or --all for every page.\n`);
}
