"""A Python service asking Keyward whether a key may read orders.

    npx buf generate && PYTHONPATH=gen KEYWARD_API_KEY=kw_live_... python3 client.py 127.0.0.1:50051
"""
import os
import sys

import grpc

from keyward.v1 import authorize_service_pb2, authorize_service_pb2_grpc, key_pb2


def main() -> int:
    address = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051"
    with grpc.insecure_channel(address) as channel:
        stub = authorize_service_pb2_grpc.AuthorizeServiceStub(channel)
        request = authorize_service_pb2.AuthorizeRequest(
            api_key=os.environ.get("KEYWARD_API_KEY", ""),
            required_scopes=["orders:read"],
        )
        try:
            # An auth call: a short deadline; a denial is an answer (allowed=False), not an error.
            answer = stub.Authorize(request, timeout=0.5)
        except grpc.RpcError as error:  # UNAVAILABLE, DEADLINE_EXCEEDED: fail closed
            print(f"keyward: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1
    reason = key_pb2.Reason.Name(answer.reason)
    print(f"allowed={answer.allowed} reason={reason} http_status={answer.http_status} key_id={answer.key_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
