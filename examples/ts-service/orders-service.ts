// An HTTP service that lets Keyward decide who may call it: GET /orders needs a key with orders:read.
//   KEYWARD_ADDRESS=127.0.0.1:50051 PORT=3000 node --import tsx examples/ts-service/orders-service.ts
//   curl -H "x-api-key: $KEY" localhost:3000/orders
import { createServer, type Server } from "node:http";
import { pathToFileURL } from "node:url";
import { createKeywardClient, type KeywardRequest, keywardAuth } from "keyward/client";

/** The service, not yet listening, and a way to close its Keyward connection. */
export function ordersService(keywardAddress: string): { server: Server; close(): void } {
  const keyward = createKeywardClient({ address: keywardAddress });
  const readOrders = keywardAuth({ client: keyward, scopes: ["orders:read"] });
  const server = createServer((request, response) => {
    if (request.method !== "GET" || request.url !== "/orders") {
      response.statusCode = 404;
      response.end();
      return;
    }
    readOrders(request, response, () => {
      const caller = (request as KeywardRequest).keyward;
      response.setHeader("content-type", "application/json");
      response.end(JSON.stringify({ orders: [], workspace: caller?.workspace, key_id: caller?.keyId }));
    });
  });
  return { server, close: () => keyward.close() };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const { server } = ordersService(process.env.KEYWARD_ADDRESS ?? "127.0.0.1:50051");
  server.listen(Number(process.env.PORT ?? 3000), () => console.log("orders service listening"));
}
