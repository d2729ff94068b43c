//! `fleetbench gateway`: the mock gateway alone.

use fleetbench_gateway::GatewayConfig;
use fleetbench_gateway::config::RateLimit;

use crate::cli::GatewayArgs;
use fleetbench_runner::ExitStatus;

/// Starts the gateway and serves until Ctrl-C.
pub async fn run(args: GatewayArgs) -> ExitStatus {
    if let Some(empty) = args.tokens.iter().position(String::is_empty) {
        eprintln!(
            "error: --token #{} is empty: tokens must be non-empty",
            empty + 1
        );
        return ExitStatus::InvalidInput;
    }
    if !(args.register_rate.is_finite() && args.register_rate > 0.0) {
        eprintln!(
            "error: --register-rate is {}: must be a positive number of Registers per second",
            args.register_rate
        );
        return ExitStatus::InvalidInput;
    }
    let config = GatewayConfig {
        http_addr: args.http,
        coap_addr: args.coap,
        tokens: args.tokens,
        max_body_bytes: args.max_body_bytes,
        max_in_flight: args.max_in_flight,
        retention: args.retention,
        http_header_timeout: args.http_header_timeout,
        http_body_timeout: args.http_body_timeout,
        http_max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
        max_devices: usize::try_from(args.max_devices).unwrap_or(usize::MAX),
        register_rate: RateLimit {
            burst: args.register_burst,
            per_second: args.register_rate,
        },
        inactive_device_retention: args.inactive_retention,
        ..GatewayConfig::default()
    };
    let gateway = match fleetbench_gateway::start(config).await {
        Ok(gateway) => gateway,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitStatus::Error;
        }
    };
    println!(
        "fleetbench gateway: REST API on http://{}  LwM2M server on coap://{}",
        gateway.http_addr(),
        gateway.coap_addr()
    );
    // One machine-readable line with the bound addresses (useful with port 0).
    println!(
        "listening http=http://{} coap=coap://{}",
        gateway.http_addr(),
        gateway.coap_addr()
    );
    println!("press Ctrl-C to stop");
    super::shutdown_signal().await;
    gateway.shutdown().await;
    ExitStatus::Passed
}
