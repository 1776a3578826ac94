namespace Tollgate.Pipeline;

/// <summary>What went wrong, as data. Surfaces render it in their own error shape.</summary>
internal enum GatewayErrorKind
{
    MissingKey,
    InvalidKey,
    ModelNotAllowed,
    DataClassBlocked,
    UnknownModel,
    BadRequest,
    BodyTooLarge,
    UpstreamAuth,
    UpstreamFailed,
    UpstreamRateLimited,
    LimitExceeded,
    UpstreamClientError,
    AllCoolingDown,
    NoDeployment,
    Internal,
}

/// <summary>A failure with everything a surface needs to render it.</summary>
/// <param name="Kind">The classification.</param>
/// <param name="Message">Says what happened and what to fix. Never holds a secret.</param>
/// <param name="Param">The offending request field, when there is one.</param>
/// <param name="RetryAfterSeconds">For 429/503, when a reset time is known.</param>
/// <param name="LimitType">For a refusal by a limit: its wire name (budget_exceeded, rate_limit_rpm, …), used as the error's type and code.</param>
/// <param name="StatusOverride">The status to answer with when it is not the kind's own (an upstream's 4xx relayed in the caller's shape).</param>
internal sealed record GatewayError(GatewayErrorKind Kind, string Message, string? Param = null, int? RetryAfterSeconds = null, string? LimitType = null, int? StatusOverride = null)
{
    public int Status => StatusOverride ?? Kind switch
    {
        GatewayErrorKind.MissingKey or GatewayErrorKind.InvalidKey or GatewayErrorKind.UpstreamAuth => 401,
        GatewayErrorKind.ModelNotAllowed or GatewayErrorKind.DataClassBlocked => 403,
        GatewayErrorKind.UnknownModel => 404,
        GatewayErrorKind.BadRequest => 400,
        GatewayErrorKind.BodyTooLarge => 413,
        GatewayErrorKind.UpstreamRateLimited or GatewayErrorKind.LimitExceeded => 429,
        GatewayErrorKind.UpstreamFailed => 502,
        GatewayErrorKind.AllCoolingDown or GatewayErrorKind.NoDeployment => 503,
        _ => 500,
    };

    /// <summary>The short machine code for the error, shared by every surface.</summary>
    public string Code => LimitType ?? Kind switch
    {
        GatewayErrorKind.MissingKey => "missing_api_key",
        GatewayErrorKind.InvalidKey => "invalid_api_key",
        GatewayErrorKind.ModelNotAllowed => "model_not_allowed",
        GatewayErrorKind.DataClassBlocked => "data_class_not_allowed",
        GatewayErrorKind.UnknownModel => "model_not_found",
        GatewayErrorKind.BadRequest => "invalid_request",
        GatewayErrorKind.BodyTooLarge => "request_too_large",
        GatewayErrorKind.UpstreamAuth => "upstream_auth_failed",
        GatewayErrorKind.UpstreamFailed => "upstream_error",
        GatewayErrorKind.UpstreamRateLimited => "rate_limited",
        GatewayErrorKind.UpstreamClientError => "upstream_rejected_request",
        GatewayErrorKind.AllCoolingDown => "all_deployments_cooling_down",
        GatewayErrorKind.NoDeployment => "no_deployment_available",
        _ => "internal_error",
    };
}
