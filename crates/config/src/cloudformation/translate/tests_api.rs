//! Tests of the API Gateway, Route 53, ACM and Cognito translations.
