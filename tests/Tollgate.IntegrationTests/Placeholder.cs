namespace Tollgate.IntegrationTests;
