#!/usr/bin/env python3
"""Drives a real Pharos node the way an outsider does: a Python grpcio client that knows no
.proto file and learns every service, method and message from gRPC server reflection
(grpc.reflection.v1alpha, the only version stock grpcio-reflection speaks).

Checks, for every method of every service the client port lists:
  * an empty request is answered (OK, or a refusal carrying a `pharos-error` reason) and never
    INTERNAL or UNKNOWN (a server fault);
  * bytes that do not decode as the request message are INVALID_ARGUMENT, reason INVALID_ARGUMENT;
and then: an unknown enum value, an oversize request, and that no refused request changed the
log or the state (ClusterService/Status: last log index and state digest).

Usage: conformance.py PATH_TO_PHAROS_BINARY. Starts one node on free loopback ports in a
temporary directory, stops it at the end; bounded (every call has a deadline, the whole run a
few minutes at most). Exit status 0 when every check passed.
"""

import os
import socket
import subprocess
import sys
import tempfile
import time

import grpc
from google.protobuf import descriptor_pool, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

CALL_TIMEOUT_S = 5.0
START_TIMEOUT_S = 60.0
# Codes that mean the server itself failed: never acceptable for any input.
SERVER_FAULTS = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.UNIMPLEMENTED}
# Services of the client port a conformance client checks (reflection and health are tools).
PHAROS_SERVICES = {
    "pharos.v1.KvService",
    "pharos.v1.ClusterService",
    "pharos.v1.BrokerService",
    "pharos.v1.TopicService",
    "pharos.v1.OffsetService",
    "pharos.v1.DrService",
    "pharos.v1.AclService",
}
EXPECTED_LISTING = PHAROS_SERVICES | {
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
}
# Reasons an empty request may be refused with FAILED_PRECONDITION: the request is well formed
# (every field optional) and the state says no. Any other refusal of an empty request is about
# its arguments, which is INVALID_ARGUMENT (or NOT_FOUND for a name that is absent).
PRECONDITION_REASONS = {"FAILBACK_REFUSED"}
# Methods an empty request must not be sent to, and why.
EMPTY_REQUEST_SKIPPED = {
    # Blocks until a leader change: with one node there is none to wait for.
    "pharos.v1.ClusterService/TransferLeader": "a single node has nobody to transfer to",
}


class Failures:
    def __init__(self):
        self.lines = []

    def check(self, condition, line):
        if not condition:
            self.lines.append(line)
        return condition


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def reason_of(error):
    for key, value in (error.trailing_metadata() or ()):
        if key == "pharos-error":
            return value
    return None


def start_node(binary, data_dir):
    ports = {name: free_port() for name in ("client", "peer", "http", "remoting")}
    log = open(os.path.join(data_dir, "node.log"), "wb")
    process = subprocess.Popen(
        [
            binary, "serve", "--node-id", "1", "--data-dir", os.path.join(data_dir, "data"),
            "--listen-client", f"127.0.0.1:{ports['client']}",
            "--listen-peer", f"127.0.0.1:{ports['peer']}",
            "--listen-http", f"127.0.0.1:{ports['http']}",
            "--listen-remoting", f"127.0.0.1:{ports['remoting']}",
            # The probes are about the wire contract; authentication has its own tests
            # (server/tests/security.rs).
            "--insecure",
        ],
        stdout=log, stderr=subprocess.STDOUT,
    )
    return process, f"127.0.0.1:{ports['client']}"


def unary(channel, path, request_bytes):
    """Calls `path` with raw request bytes; the answer's raw bytes, or the RpcError."""
    call = channel.unary_unary(path, request_serializer=lambda raw: raw, response_deserializer=lambda raw: raw)
    try:
        return call(request_bytes, timeout=CALL_TIMEOUT_S)
    except grpc.RpcError as error:
        return error


def server_stream_first(channel, path, request_bytes):
    """Opens a server stream; the first item, the RpcError, or None when nothing came in time."""
    call = channel.unary_stream(path, request_serializer=lambda raw: raw, response_deserializer=lambda raw: raw)
    stream = call(request_bytes, timeout=2.0)
    try:
        return next(stream)
    except grpc.RpcError as error:
        if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
            return None
        return error
    except StopIteration:
        return None
    finally:
        stream.cancel()


def wait_until_serving(channel, pool, deadline):
    status_request = message_class(pool, "pharos.v1.StatusRequest")()
    while time.monotonic() < deadline:
        answer = unary(channel, "/pharos.v1.ClusterService/Status", status_request.SerializeToString())
        if not isinstance(answer, grpc.RpcError):
            status = message_class(pool, "pharos.v1.StatusResponse").FromString(answer)
            if status.leader_id:
                return True
        time.sleep(0.2)
    return False


def enum_fields(message_descriptor, depth=0):
    """Paths of the enum fields of a message and of the messages it holds directly (not
    repeated, not maps)."""
    paths = []
    for field in message_descriptor.fields:
        if field.is_repeated:
            continue
        if field.type == field.TYPE_ENUM:
            paths.append([field.name])
        elif field.type == field.TYPE_MESSAGE and depth == 0:
            paths.extend([field.name] + inner for inner in enum_fields(field.message_type, depth + 1))
    return paths


def message_class(pool, full_name):
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(full_name))


def state_of(channel, pool):
    answer = unary(channel, "/pharos.v1.ClusterService/Status", b"")
    if isinstance(answer, grpc.RpcError):
        raise RuntimeError(f"Status failed: {answer.code()} {answer.details()}")
    status = message_class(pool, "pharos.v1.StatusResponse").FromString(answer)
    return status.last_log_index, status.state_digest


def listed_services(channel):
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    answers = list(stub.ServerReflectionInfo(iter([request]), timeout=CALL_TIMEOUT_S))
    return {service.name for service in answers[0].list_services_response.service}


def run(binary):
    failures = Failures()
    with tempfile.TemporaryDirectory(prefix="pharos-conformance-") as data_dir:
        process, address = start_node(binary, data_dir)
        try:
            channel = grpc.insecure_channel(address)
            grpc.channel_ready_future(channel).result(timeout=START_TIMEOUT_S)
            pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
            if not wait_until_serving(channel, pool, time.monotonic() + START_TIMEOUT_S):
                print("the node never reported a leader", file=sys.stderr)
                return 1
            services = listed_services(channel)
            failures.check(services == EXPECTED_LISTING, f"reflection lists {sorted(services)}")
            methods = []
            for service_name in sorted(services & PHAROS_SERVICES):
                service = pool.FindServiceByName(service_name)
                for method in service.methods:
                    methods.append((f"{service_name}/{method.name}", method))
            print(f"{len(methods)} methods in {len(services & PHAROS_SERVICES)} services, learned by reflection")

            # Malformed bytes first, on a fresh state: none may change anything.
            before = state_of(channel, pool)
            for path, method in methods:
                if method.client_streaming:
                    continue
                full_path = "/" + path
                # Field 1, wire type 7: no such wire type.
                if method.server_streaming:
                    answer = server_stream_first(channel, full_path, b"\x0f")
                else:
                    answer = unary(channel, full_path, b"\x0f")
                if failures.check(isinstance(answer, grpc.RpcError), f"{path}: undecodable bytes were answered"):
                    failures.check(
                        answer.code() == grpc.StatusCode.INVALID_ARGUMENT and reason_of(answer) == "INVALID_ARGUMENT",
                        f"{path}: undecodable bytes gave {answer.code()} reason {reason_of(answer)}",
                    )
            failures.check(state_of(channel, pool) == before, "undecodable requests changed the log or the state")

            # An unknown enum value (a newer client's, or a hostile one's) is refused, not guessed:
            # every enum field of every request (and of the messages a request holds directly),
            # found by reflection, set to 99 in an otherwise empty request.
            enum_probes = 0
            for path, method in methods:
                if method.client_streaming:
                    continue
                for field_path in enum_fields(method.input_type):
                    request = message_class(pool, method.input_type.full_name)()
                    target = request
                    for name in field_path[:-1]:
                        target = getattr(target, name)
                    setattr(target, field_path[-1], 99)
                    full_path = "/" + path
                    if method.server_streaming:
                        answer = server_stream_first(channel, full_path, request.SerializeToString())
                    else:
                        answer = unary(channel, full_path, request.SerializeToString())
                    enum_probes += 1
                    failures.check(
                        isinstance(answer, grpc.RpcError) and answer.code() == grpc.StatusCode.INVALID_ARGUMENT,
                        f"{path} with {'.'.join(field_path)} = 99 gave "
                        f"{getattr(answer, 'code', lambda: 'OK')()} {reason_of(answer) if isinstance(answer, grpc.RpcError) else ''}",
                    )
            failures.check(enum_probes >= 10, f"only {enum_probes} enum fields found in requests")
            print(f"unknown enum values: {enum_probes} request fields probed")

            # Oversize: a 3 MiB value is refused by the transport, before any handler runs.
            put = message_class(pool, "pharos.v1.PutRequest")(key=b"big", value=b"x" * (3 * 1024 * 1024))
            answer = unary(channel, "/pharos.v1.KvService/Put", put.SerializeToString())
            failures.check(
                isinstance(answer, grpc.RpcError)
                and answer.code() in {grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.OUT_OF_RANGE},
                f"a 3 MiB put gave {getattr(answer, 'code', lambda: 'OK')()}",
            )
            # An oversize name inside a valid request: a clear refusal whose message stays short
            # (C-core clients reject metadata over 16 KiB).
            topic = message_class(pool, "pharos.v1.CreateTopicRequest")()
            topic.topic.name = "t" * 100_000
            answer = unary(channel, "/pharos.v1.TopicService/CreateTopic", topic.SerializeToString())
            failures.check(
                isinstance(answer, grpc.RpcError)
                and answer.code() == grpc.StatusCode.INVALID_ARGUMENT
                and len(answer.details() or "") < 2048,
                f"a 100,000-character topic name gave {getattr(answer, 'code', lambda: 'OK')()}",
            )
            failures.check(state_of(channel, pool) == before, "refused requests changed the log or the state")

            # Empty requests: answered, or refused with a reason; never a server fault.
            outcomes = {}
            for path, method in methods:
                if method.client_streaming or path in EMPTY_REQUEST_SKIPPED:
                    continue
                full_path = "/" + path
                if method.server_streaming:
                    answer = server_stream_first(channel, full_path, b"")
                else:
                    answer = unary(channel, full_path, b"")
                outcome = f"{answer.code().name}/{reason_of(answer)}" if isinstance(answer, grpc.RpcError) else "OK"
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                if os.environ.get("CONFORMANCE_VERBOSE"):
                    print(f"  {path}{{}}: {outcome}; log at {state_of(channel, pool)[0]}")
                if isinstance(answer, grpc.RpcError):
                    failures.check(answer.code() not in SERVER_FAULTS, f"{path}{{}}: {answer.code()} {answer.details()}")
                    failures.check(
                        reason_of(answer) is not None, f"{path}{{}}: {answer.code()} without a pharos-error reason"
                    )
                    failures.check(
                        answer.code() != grpc.StatusCode.FAILED_PRECONDITION or reason_of(answer) in PRECONDITION_REASONS,
                        f"{path}{{}}: FAILED_PRECONDITION/{reason_of(answer)} for missing arguments (INVALID_ARGUMENT)",
                    )
            print("empty requests: " + ", ".join(f"{outcome} x{count}" for outcome, count in sorted(outcomes.items())))
            # The node is still up and answering after all of it.
            state_of(channel, pool)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if failures.lines:
            with open(os.path.join(data_dir, "node.log"), "rb") as log:
                tail = log.read()[-4000:].decode("utf-8", "replace")
            print("node log (tail):\n" + tail, file=sys.stderr)
    for line in failures.lines:
        print(f"FAIL {line}", file=sys.stderr)
    print(f"conformance: {len(failures.lines)} failure(s)")
    return 1 if failures.lines else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(run(sys.argv[1]))
